#include "worker/agent/coordinator_link.h"

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <cerrno>
#include <vector>

namespace lf::worker {
namespace {

class ZmqCoordinatorLink final : public CoordinatorLink {
 public:
  ZmqCoordinatorLink(std::string endpoint, const std::string& worker_id,
                     const ZmqLinkOptions& options)
      : endpoint_(std::move(endpoint)), context_(1), socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::routing_id, worker_id);
    socket_.set(zmq::sockopt::linger, options.linger_ms);
    socket_.set(zmq::sockopt::reconnect_ivl, options.reconnect_ivl_ms);
    socket_.set(zmq::sockopt::reconnect_ivl_max, options.reconnect_ivl_max_ms);
    socket_.set(zmq::sockopt::maxmsgsize, kMaxCoordinatorFrameBytes);
    if (options.keys) {
      socket_.set(zmq::sockopt::curve_serverkey, options.keys->coordinator_public);
      socket_.set(zmq::sockopt::curve_publickey, options.keys->worker.public_key);
      socket_.set(zmq::sockopt::curve_secretkey, options.keys->worker.secret_key);
    }
    socket_.connect(endpoint_);
  }

  Status Send(const protocol::Message& message) override {
    std::vector<std::string> frames = protocol::Encode(message);
    try {
      for (size_t i = 0; i < frames.size(); ++i) {
        zmq::send_flags flags = zmq::send_flags::dontwait;
        if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
        // Only the first frame can be refused (EAGAIN at the high-water mark); the rest of a
        // multipart message is accepted with it.
        if (!socket_.send(zmq::buffer(frames[i]), flags)) {
          return Unavailable("sending " + std::string(protocol::MessageTypeName(message)) + " to " +
                             endpoint_ +
                             ": the outgoing queue is full (is the coordinator running?)");
        }
      }
    } catch (const zmq::error_t& e) {
      return Internal("sending " + std::string(protocol::MessageTypeName(message)) + " to " +
                      endpoint_ + ": " + e.what());
    }
    return Status::Ok();
  }

  Result<std::optional<protocol::Message>> Receive(std::chrono::milliseconds timeout) override {
    std::vector<std::string> frames;
    try {
      zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}};
      if (zmq::poll(items, 1, timeout) == 0) return std::optional<protocol::Message>();
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(socket_, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
        return std::optional<protocol::Message>();
      }
      for (const auto& part : parts) frames.push_back(part.to_string());
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) return std::optional<protocol::Message>();  // a signal: look again
      return Internal("receiving from " + endpoint_ + ": " + e.what());
    }
    LF_ASSIGN_OR_RETURN(protocol::Message message, protocol::Decode(std::move(frames)));
    return std::optional<protocol::Message>(std::move(message));
  }

 private:
  std::string endpoint_;
  zmq::context_t context_;
  zmq::socket_t socket_;
};

}  // namespace

Result<std::unique_ptr<CoordinatorLink>> ConnectToCoordinator(const std::string& endpoint,
                                                              const std::string& worker_id,
                                                              const ZmqLinkOptions& options) {
  try {
    return std::unique_ptr<CoordinatorLink>(
        std::make_unique<ZmqCoordinatorLink>(endpoint, worker_id, options));
  } catch (const zmq::error_t& e) {
    if (e.num() == EINVAL || e.num() == EPROTONOSUPPORT) {
      return InvalidArgument("coordinator endpoint '" + endpoint + "': " + e.what() +
                             "; expected e.g. tcp://127.0.0.1:7071");
    }
    return Unavailable("connecting to the coordinator at " + endpoint + ": " + e.what());
  }
}

}  // namespace lf::worker
