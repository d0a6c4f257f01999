// The coordinator's end of the worker transport: a ZeroMQ ROUTER socket that workers' DEALER
// sockets connect to. Each worker's routing id is its worker id ("<host>/<rank>/<pid>"); while a
// connection holds an id, another connection claiming it is ignored (no ROUTER_HANDOVER).
// With CURVE keys (common/curve_keys.h) every connection is encrypted, and a ZAP handler thread
// admits only the fleet's worker key: a peer without it never gets a message through. Frames are
// capped (kMaxFrameBytes, kMaxJsonFrameBytes). The only coordinator file that includes zmq.hpp is zmq_router.cpp.
// Not thread-safe: the daemon's event loop owns it (the ZAP thread touches only its own socket).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "common/curve_keys.h"
#include "common/status.h"
#include "coordinator/coordinator.h"
#include "jobs/protocol.h"

namespace lf::coordinator {

class ZmqRouter : public WorkerSink {
 public:
  // A frame larger than this ends its sender's connection (ZMQ_MAXMSGSIZE). The largest real
  // ones are a DONE's adapter files (a rank-64 LoRA of an 8B model is ~300 MB in bf16).
  static constexpr int64_t kMaxFrameBytes = int64_t{4} << 30;
  // The JSON frame of a message: larger ones are dropped unread (a real one is a few KiB).
  static constexpr size_t kMaxJsonFrameBytes = size_t{16} << 20;

  // "tcp://127.0.0.1:7071"; port 0 (or *) picks a free port, see endpoint(). Without keys, any
  // process that reaches the port is a worker (the daemon warns).
  static Result<std::unique_ptr<ZmqRouter>> Bind(
      const std::string& endpoint, const std::optional<curve::CoordinatorKeys>& keys = {},
      int64_t max_frame_bytes = kMaxFrameBytes);
  ~ZmqRouter() override;

  const std::string& endpoint() const { return endpoint_; }  // the bound address
  // A file descriptor that becomes readable when the socket's state may have changed (ZMQ_FD:
  // edge-triggered; check HasInput() after every operation on the socket).
  int fd() const;
  bool HasInput() const;
  // One message, without blocking; nullopt when none is waiting. A message that does not decode
  // is logged with its sender and skipped.
  std::optional<std::pair<std::string, protocol::Message>> TryReceive();
  // Drops the message (logged) when the worker is not connected: its heartbeats stop and the
  // coordinator declares it lost.
  void Send(const std::string& worker_id, const protocol::Message& message) override;

  uint64_t sent() const { return sent_; }
  uint64_t received() const { return received_; }
  // Handshakes the ZAP handler refused (a peer without the fleet's worker key). Thread-safe.
  uint64_t refused() const;

 private:
  struct Impl;
  explicit ZmqRouter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string endpoint_;
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
};

}  // namespace lf::coordinator
