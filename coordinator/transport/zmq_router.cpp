#include "coordinator/transport/zmq_router.h"

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <array>
#include <atomic>
#include <thread>

#include "common/logging.h"
#include "common/utf8.h"

namespace lf::coordinator {
namespace {

constexpr const char* kZapDomain = "lorafleet";

// ZeroMQ's authentication protocol (ZAP, RFC 27): libzmq asks the socket bound at this inproc
// address about every CURVE handshake and admits the peer only on a "200". Without a handler
// bound, a CURVE server admits any client key: the handler is what makes the key a credential.
class ZapHandler {
 public:
  ZapHandler(zmq::context_t& context, const std::string& worker_public)
      : socket_(context, zmq::socket_type::rep) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("inproc://zeromq.zap.01");
    allowed_.resize(32);
    zmq_z85_decode(reinterpret_cast<uint8_t*>(allowed_.data()), worker_public.c_str());
    thread_ = std::thread([this] { Serve(); });
  }
  ~ZapHandler() {
    stop_ = true;
    thread_.join();
  }
  uint64_t refused() const { return refused_.load(); }

 private:
  void Serve() {
    while (!stop_) {
      try {
        zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}};
        if (zmq::poll(items, 1, std::chrono::milliseconds(100)) == 0) continue;
        std::vector<zmq::message_t> request;
        if (!zmq::recv_multipart(socket_, std::back_inserter(request))) continue;
        Answer(request);
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) return;
        LF_LOG_ERROR("worker authentication (ZAP): {}", e.what());
      }
    }
  }

  // Request: version, request id, domain, address, routing id, mechanism, credentials...
  // Reply: version, request id, status code, status text, user id, metadata.
  void Answer(const std::vector<zmq::message_t>& request) {
    if (request.size() < 2) return;  // not ZAP: a REP socket cannot answer without an envelope
    const bool ok = request.size() == 7 && request[2].to_string_view() == kZapDomain &&
                    request[5].to_string_view() == "CURVE" &&
                    request[6].to_string_view() == allowed_;
    if (!ok) {
      const uint64_t n = ++refused_;
      if (n == 1 || n % 100 == 0) {  // an attacker's retry loop must not fill the log
        LF_LOG_WARN("refused a worker connection from {} without the fleet's worker key ({} "
                    "refused so far); a real worker needs --keys <home>/keys/worker.key",
                    request.size() > 3 ? utf8::ReplaceInvalid(request[3].to_string()) : "?", n);
      }
    }
    std::array<std::string, 6> reply = {"1.0", request[1].to_string(), ok ? "200" : "400",
                                        ok ? "OK" : "not a worker of this fleet",
                                        ok ? "worker" : "", ""};
    for (size_t i = 0; i < reply.size(); ++i) {
      socket_.send(zmq::buffer(reply[i]),
                   i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }

  zmq::socket_t socket_;
  std::string allowed_;  // the worker public key, 32 bytes
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace

// Declared in destruction order's reverse: the router socket closes first, then the ZAP thread
// stops, then the context terminates (which waits for every socket of it to be closed).
struct ZmqRouter::Impl {
  zmq::context_t context{1};
  std::unique_ptr<ZapHandler> zap;
  zmq::socket_t socket{context, zmq::socket_type::router};
};

ZmqRouter::ZmqRouter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZmqRouter::~ZmqRouter() = default;

Result<std::unique_ptr<ZmqRouter>> ZmqRouter::Bind(
    const std::string& endpoint, const std::optional<curve::CoordinatorKeys>& keys,
    int64_t max_frame_bytes) {
  std::string address = endpoint;
  if (address.size() > 2 && address.compare(address.size() - 2, 2, ":0") == 0) {
    address.replace(address.size() - 1, 1, "*");  // ZeroMQ's spelling of "any free port"
  }
  try {
    auto impl = std::make_unique<Impl>();
    // Fail a send to a worker that is gone instead of dropping it silently.
    impl->socket.set(zmq::sockopt::router_mandatory, 1);
    // No ROUTER_HANDOVER: a worker id is unique per process, so a second connection claiming a
    // connected one's id is an impostor, and libzmq ignores it.
    impl->socket.set(zmq::sockopt::maxmsgsize, max_frame_bytes);
    if (keys) {
      impl->zap = std::make_unique<ZapHandler>(impl->context, keys->worker_public);
      impl->socket.set(zmq::sockopt::curve_server, 1);
      impl->socket.set(zmq::sockopt::curve_secretkey, keys->coordinator.secret_key);
      impl->socket.set(zmq::sockopt::zap_domain, kZapDomain);
    }
    impl->socket.set(zmq::sockopt::linger, 0);
    impl->socket.set(zmq::sockopt::sndhwm, 100000);
    impl->socket.set(zmq::sockopt::rcvhwm, 100000);
    impl->socket.bind(address);
    std::unique_ptr<ZmqRouter> router(new ZmqRouter(std::move(impl)));
    router->endpoint_ = router->impl_->socket.get(zmq::sockopt::last_endpoint);
    return router;
  } catch (const zmq::error_t& e) {
    return Unavailable("cannot bind the worker endpoint " + endpoint + ": " + e.what() +
                       (e.num() == EADDRINUSE
                            ? "; another lorafleetd may be running (`lorafleet down`), or pass "
                              "--workers with another port"
                            : ""));
  }
}

uint64_t ZmqRouter::refused() const { return impl_->zap ? impl_->zap->refused() : 0; }

int ZmqRouter::fd() const { return impl_->socket.get(zmq::sockopt::fd); }

bool ZmqRouter::HasInput() const {
  return (impl_->socket.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0;
}

std::optional<std::pair<std::string, protocol::Message>> ZmqRouter::TryReceive() {
  while (true) {
    std::vector<std::string> frames;
    std::string peer;
    try {
      zmq::message_t part;
      if (!impl_->socket.recv(part, zmq::recv_flags::dontwait)) return std::nullopt;
      peer = part.to_string();
      while (part.more()) {
        if (!impl_->socket.recv(part, zmq::recv_flags::none)) break;
        frames.push_back(part.to_string());
      }
    } catch (const zmq::error_t& e) {
      LF_LOG_ERROR("receiving from workers: {}", e.what());
      return std::nullopt;
    }
    ++received_;
    // The routing id becomes the worker's key, its audit-log actor and JSON in every view: one
    // that is not UTF-8 (no lorafleet worker sends one) is refused here, at the edge.
    if (!utf8::IsValid(peer) || peer.empty()) {
      LF_LOG_WARN("dropping a message from a peer whose routing id '{}' is not a worker id "
                  "(empty or not UTF-8)", utf8::ReplaceInvalid(peer));
      continue;
    }
    if (!frames.empty() && frames[0].size() > kMaxJsonFrameBytes) {
      LF_LOG_WARN("dropping a message from worker {}: its JSON frame is {} bytes, over the limit "
                  "of {}", peer, frames[0].size(), kMaxJsonFrameBytes);
      continue;
    }
    auto message = protocol::Decode(std::move(frames));
    if (!message.ok()) {
      LF_LOG_WARN("dropping a message from worker {}: {}", peer, message.status().ToString());
      continue;
    }
    return std::make_pair(std::move(peer), std::move(message).value());
  }
}

void ZmqRouter::Send(const std::string& worker_id, const protocol::Message& message) {
  std::vector<std::string> frames = protocol::Encode(message);
  try {
    if (!impl_->socket.send(zmq::buffer(worker_id), zmq::send_flags::sndmore |
                                                        zmq::send_flags::dontwait)) {
      LF_LOG_WARN("worker {} is not keeping up; {} dropped", worker_id,
                  protocol::MessageTypeName(message));
      return;
    }
    for (size_t i = 0; i < frames.size(); ++i) {
      const auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      impl_->socket.send(zmq::buffer(frames[i]), flags);
    }
    ++sent_;
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH: the worker disconnected; heartbeats tell the coordinator the rest.
    LF_LOG_WARN("cannot send {} to worker {}: {}", protocol::MessageTypeName(message), worker_id,
                e.what());
  }
}

}  // namespace lf::coordinator
