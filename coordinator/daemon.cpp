#include "coordinator/daemon.h"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <filesystem>

#include "common/access_token.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "coordinator/api/http_server.h"
#include "coordinator/api/routes.h"
#include "coordinator/coordinator.h"
#include "coordinator/dashboard/dashboard.h"
#include "coordinator/transport/zmq_router.h"

namespace lf::coordinator {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgument("--http: expected HOST:PORT (e.g. 127.0.0.1:7070), got '" + text + "'");
  }
  try {
    const int port = std::stoi(text.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    return std::make_pair(text.substr(0, colon), static_cast<uint16_t>(port));
  } catch (const std::exception&) {
    return InvalidArgument("--http: '" + text.substr(colon + 1) + "' is not a port (0-65535)");
  }
}

// Runs one handler of the event loop. An exception it throws (a bug, or a library's surprise on
// input nobody foresaw) is logged and the daemon carries on with the next event: one bad frame or
// request must not end the fleet's coordinator.
template <typename F>
void Guarded(std::string_view what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    LF_LOG_ERROR("{} threw: {}; dropped, carrying on", what, e.what());
  } catch (...) {
    LF_LOG_ERROR("{} threw a non-standard exception; dropped, carrying on", what);
  }
}

// Feeds worker messages to the coordinator as they arrive. ZMQ_FD is edge-triggered and only
// says the socket's state may have changed, so every wake-up drains the socket completely and
// re-checks it after the replies were sent (a send can consume the edge of a pending receive).
class WorkerPump {
 public:
  WorkerPump(asio::io_context& io, ZmqRouter& router, Coordinator& coordinator)
      : io_(io), router_(router), coordinator_(coordinator), fd_(io, ::dup(router.fd())) {}

  void Start() { Arm(); }
  // Called after anything else made the coordinator send (HTTP requests, ticks).
  void Kick() {
    if (router_.HasInput() && !scheduled_) {
      scheduled_ = true;
      asio::post(io_, [this] { Drain(); });
    }
  }

 private:
  void Arm() {
    fd_.async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
      if (ec) return;  // cancelled at shutdown
      Drain();
      Arm();
    });
  }
  void Drain() {
    scheduled_ = false;
    // A batch is committed with one fsync; bound it so one flood cannot starve the HTTP API.
    constexpr int kBatch = 4096;
    int handled = 0;
    while (true) {
      for (; handled < kBatch; ++handled) {
        auto message = router_.TryReceive();
        if (!message) break;
        Guarded("a message from worker " + message->first, [&] {
          coordinator_.OnMessage(message->first, std::move(message->second));
        });
      }
      Guarded("committing the workers' messages", [&] { coordinator_.Flush(); });
      if (handled < kBatch && !router_.HasInput()) return;
      if (handled >= kBatch) {
        Kick();  // the rest after other work had a turn
        return;
      }
    }
  }

  asio::io_context& io_;
  ZmqRouter& router_;
  Coordinator& coordinator_;
  asio::posix::stream_descriptor fd_;
  bool scheduled_ = false;
};

Status WriteEndpointFile(const DaemonOptions& options, uint16_t http_port,
                         const std::string& host, const std::string& workers) {
  if (options.endpoint_file.empty()) return Status::Ok();
  std::error_code ec;
  Json j = {{"http", "http://" + host + ":" + std::to_string(http_port)},
            {"workers", workers},
            {"pid", static_cast<int64_t>(::getpid())},
            {"store", fs::absolute(options.store_dir, ec).string()},
            {"runs", fs::absolute(options.runs_dir, ec).string()}};
  return WriteFileAtomically(options.endpoint_file, j.dump(2) + "\n");
}

}  // namespace

Status RunDaemon(const DaemonOptions& options) {
  LF_ASSIGN_OR_RETURN(auto http, ParseHostPort(options.http));
  LF_RETURN_IF_ERROR(CreateDirectories(options.runs_dir));
  std::error_code ec;
  const std::string runs_dir = fs::absolute(options.runs_dir, ec).string();
  LF_ASSIGN_OR_RETURN(auto store, store::OpenRocksDbStore({.path = options.store_dir}));
  std::optional<curve::CoordinatorKeys> worker_keys;
  if (!options.worker_keys_dir.empty()) {
    LF_ASSIGN_OR_RETURN(worker_keys, curve::LoadOrCreateKeys(options.worker_keys_dir));
  } else {
    LF_LOG_WARN("lorafleetd: no --worker-keys: any process that reaches {} may act as a worker",
                options.workers);
  }
  LF_ASSIGN_OR_RETURN(auto router, ZmqRouter::Bind(options.workers, worker_keys));
  LF_ASSIGN_OR_RETURN(auto coordinator,
                      Coordinator::Create(*store, *router, SystemClock(),
                                          {.runs_dir = runs_dir,
                                           .heartbeat_interval_ms = options.heartbeat_interval_ms,
                                           .heartbeat_timeout_ms = options.heartbeat_timeout_ms,
                                           .retry_backoff_ms = options.retry_backoff_ms,
                                           .max_pack = options.max_pack,
                                           .quotas = options.quotas}));

  asio::io_context io(1);
  WorkerPump pump(io, *router, *coordinator);
  api::Router routes;
  // Who may call the API, decided from each request's header before its body is read.
  api::AccessPolicy access{.open_reads = options.open_reads,
                           .hosts = api::LocalHostNames(http.first)};
  access.hosts.insert(access.hosts.end(), options.allowed_hosts.begin(),
                      options.allowed_hosts.end());
  if (!options.token_file.empty()) {
    LF_ASSIGN_OR_RETURN(access.tokens, ReadAccessTokens(options.token_file));
  } else {
    LF_LOG_WARN("lorafleetd: no --token-file: anyone who reaches {} may submit and cancel",
                options.http);
  }
  // Replies to workers that an HTTP request caused (cancel, pause, a dispatch) may have eaten
  // the socket's edge: look again after every request.
  api::AddApiRoutes(routes, *coordinator, [&pump] { pump.Kick(); });
  dashboard::AddDashboardRoutes(routes);
  LF_ASSIGN_OR_RETURN(
      auto server,
      api::HttpServer::Start(io, routes,
                             {.host = http.first,
                              .port = http.second,
                              .admit = [access](api::HttpRequest& r) { return api::Admit(access, r); }}));
  LF_RETURN_IF_ERROR(WriteEndpointFile(options, server->port(), http.first, router->endpoint()));
  LF_LOG_INFO("lorafleetd: API on http://{}:{}, workers on {}, store {}", http.first,
              server->port(), router->endpoint(), options.store_dir);

  // Heartbeat checks, retry back-offs and reclaimed leases run on a timer.
  asio::steady_timer timer(io);
  const auto period = std::chrono::milliseconds(std::max<int64_t>(options.heartbeat_interval_ms / 4, 50));
  std::function<void()> tick = [&] {
    timer.expires_after(period);
    timer.async_wait([&](boost::system::error_code e) {
      if (e) return;
      Guarded("the coordinator's tick", [&] { coordinator->Tick(); });
      pump.Kick();
      tick();
    });
  };
  tick();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code e, int signal) {
    if (e) return;
    LF_LOG_INFO("lorafleetd: {} received; stopping (workers keep their trials and reconnect to "
                "the next coordinator)", signal == SIGINT ? "SIGINT" : "SIGTERM");
    server->Stop();
    timer.cancel();
    io.stop();
  });
  pump.Start();
  // Handlers guard themselves; this is the backstop for any that does not (Boost.Asio's pattern:
  // run() rethrows a handler's exception and can be called again to go on with the other work).
  while (true) {
    try {
      io.run();
      break;
    } catch (const std::exception& e) {
      LF_LOG_ERROR("lorafleetd: an event handler threw: {}; carrying on", e.what());
    }
  }
  if (!options.endpoint_file.empty()) fs::remove(options.endpoint_file, ec);
  return Status::Ok();
}

}  // namespace lf::coordinator
