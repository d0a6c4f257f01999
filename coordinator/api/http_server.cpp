#include "coordinator/api/http_server.h"

#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "common/logging.h"
#include "coordinator/api/http_session.h"

namespace lf::api {
namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using internal::ServerState;
using internal::Session;

namespace {

Result<tcp::endpoint> ListenEndpoint(net::io_context& io, const HttpServerOptions& options,
                                     const std::string& name) {
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(options.host, ec);
  if (!ec) return tcp::endpoint(address, options.port);
  tcp::resolver resolver(io);
  auto results =
      resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return InvalidArgument("cannot listen on " + name + ": cannot resolve '" + options.host +
                           "' (" + (ec ? ec.message() : "no addresses") +
                           "); use an IP address such as 127.0.0.1 or 0.0.0.0");
  }
  return results.begin()->endpoint();
}

Status ListenError(const std::string& name, const char* step, beast::error_code ec) {
  if (ec == net::error::address_in_use) {
    return Unavailable("cannot listen on " + name +
                       ": the address is already in use (another coordinator?); stop the "
                       "process using that port or choose another port");
  }
  if (ec == net::error::access_denied) {
    return Unavailable("cannot listen on " + name +
                       ": permission denied; ports below 1024 need privileges, use a higher one");
  }
  if (ec == boost::system::errc::address_not_available) {
    return InvalidArgument("cannot listen on " + name +
                           ": that address does not belong to this machine; use 127.0.0.1, "
                           "0.0.0.0 or one of this host's addresses");
  }
  return Unavailable("cannot listen on " + name + ": " + step + " failed: " + ec.message());
}

// One connection past max_connections: a short 503 (the socket is fresh, so the few bytes go into
// its empty send buffer without blocking) and closed at once.
void RefuseConnection(tcp::socket socket, size_t limit) {
  static const std::string kBody =
      R"({"error":{"status":503,"message":"too many open connections; retry shortly"}})";
  static const std::string kReply = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                    "application/json\r\nRetry-After: 1\r\nConnection: close\r\n"
                                    "Content-Length: " + std::to_string(kBody.size()) +
                                    "\r\n\r\n" + kBody;
  beast::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(net::buffer(kReply), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
  LF_LOG_WARN("http: refused a connection: {} are open, the limit", limit);
}

// Runs on the acceptor's strand. Each accepted connection gets a strand of its own.
void Accept(std::shared_ptr<ServerState> state) {
  if (!state->acceptor.is_open()) return;
  state->acceptor.async_accept(
      net::make_strand(state->io), [state](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !state->acceptor.is_open()) return;
        if (ec) {  // e.g. out of file descriptors: wait instead of spinning on the error
          LF_LOG_WARN("http {}: accept failed: {}; retrying in 100 ms", state->name, ec.message());
          state->accept_retry.expires_after(std::chrono::milliseconds(100));
          state->accept_retry.async_wait([state](beast::error_code wait_ec) {
            if (!wait_ec) Accept(state);
          });
          return;
        }
        bool full = false;
        std::shared_ptr<Session> session;
        {
          std::lock_guard<std::mutex> lock(state->mutex);
          if (state->stopped) return;
          full = state->sessions.size() >= state->options.max_connections;
          if (!full) {
            session = std::make_shared<Session>(std::move(socket), state);
            state->sessions.emplace(session.get(), session);
          }
        }
        if (full) {
          RefuseConnection(std::move(socket), state->options.max_connections);
          Accept(state);
          return;
        }
        session->Start();
        Accept(state);
      });
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(net::io_context& io, const Router& router,
                                                      HttpServerOptions options) {
  std::string name = options.host + ":" + std::to_string(options.port);
  LF_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ListenEndpoint(io, options, name));
  auto state = std::make_shared<ServerState>(io, router, std::move(options));
  tcp::acceptor& acceptor = state->acceptor;
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return ListenError(name, "opening a socket", ec);
  // Lets a restarted coordinator bind while its old connections linger in TIME_WAIT; it does not
  // let two servers share a listening port on Linux.
  acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return ListenError(name, "setting SO_REUSEADDR", ec);
  acceptor.bind(endpoint, ec);
  if (ec) return ListenError(name, "bind", ec);
  acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return ListenError(name, "listen", ec);
  state->port = acceptor.local_endpoint(ec).port();
  if (ec) return ListenError(name, "reading the bound port", ec);
  state->name = state->options.host + ":" + std::to_string(state->port);
  LF_LOG_INFO("http: listening on {}", state->name);
  net::post(acceptor.get_executor(), [state] { Accept(state); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state)));
}

HttpServer::HttpServer(std::shared_ptr<ServerState> state) : state_(std::move(state)) {}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return state_->port; }

void HttpServer::Stop() {
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->stopped) return;
    state_->stopped = true;
    for (auto& [raw, weak] : state_->sessions) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
  }
  net::post(state_->acceptor.get_executor(), [state = state_] {
    beast::error_code ignored;
    state->acceptor.close(ignored);
    state->accept_retry.cancel();
  });
  for (const auto& session : open) session->Close();
  LF_LOG_DEBUG("http {}: stopping; closing {} open connection(s)", state_->name, open.size());
}

}  // namespace lf::api
