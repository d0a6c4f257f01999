#include "coordinator/transport/zmq_router.h"

#include <zmq.hpp>

#include "common/logging.h"
#include "common/utf8.h"

namespace lf::coordinator {

struct ZmqRouter::Impl {
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::router};
};

ZmqRouter::ZmqRouter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZmqRouter::~ZmqRouter() = default;

Result<std::unique_ptr<ZmqRouter>> ZmqRouter::Bind(const std::string& endpoint) {
  std::string address = endpoint;
  if (address.size() > 2 && address.compare(address.size() - 2, 2, ":0") == 0) {
    address.replace(address.size() - 1, 1, "*");  // ZeroMQ's spelling of "any free port"
  }
  try {
    auto impl = std::make_unique<Impl>();
    // Fail a send to a worker that is gone instead of dropping it silently.
    impl->socket.set(zmq::sockopt::router_mandatory, 1);
    // A worker process that restarts under the same id takes over its old connection.
    impl->socket.set(zmq::sockopt::router_handover, 1);
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
