// The agent's connection to the coordinator: send a protocol message, wait a bounded time for
// one. The real link is a ZeroMQ DEALER (coordinator_link.cpp, the only file that includes
// zmq.hpp); tests use an in-memory fake. A link belongs to one thread (the agent's main loop).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/curve_keys.h"
#include "common/status.h"
#include "jobs/protocol.h"

namespace lf::worker {

class CoordinatorLink {
 public:
  virtual ~CoordinatorLink() = default;
  // Queues the message for the coordinator without blocking; Unavailable when the outgoing
  // queue is full (the coordinator has been unreachable for long).
  virtual Status Send(const protocol::Message& message) = 0;
  // The next message, or nullopt when none arrives within `timeout` (or a signal interrupts
  // the wait). A message that does not decode is an error naming what is wrong with it.
  virtual Result<std::optional<protocol::Message>> Receive(std::chrono::milliseconds timeout) = 0;
};

struct ZmqLinkOptions {
  int linger_ms = 2000;        // how long closing waits to deliver what is queued
  int reconnect_ivl_ms = 100;  // first reconnect delay after the coordinator goes away
  int reconnect_ivl_max_ms = 2000;
  // The fleet's CURVE keys (worker.key): the coordinator admits no connection without them when
  // it has keys of its own. Unset: a plain connection, for a coordinator run without keys.
  std::optional<curve::WorkerKeys> keys;
};

// A coordinator message larger than this ends the connection (ZMQ_MAXMSGSIZE); an ASSIGN with
// its job is a few KiB.
inline constexpr int64_t kMaxCoordinatorFrameBytes = 16 << 20;

// A DEALER socket whose routing id is `worker_id`, connected to `endpoint`
// ("tcp://127.0.0.1:7071"). ZeroMQ connects in the background and reconnects by itself, so this
// succeeds without a coordinator; a malformed endpoint is an InvalidArgument.
Result<std::unique_ptr<CoordinatorLink>> ConnectToCoordinator(const std::string& endpoint,
                                                              const std::string& worker_id,
                                                              const ZmqLinkOptions& options = {});

}  // namespace lf::worker
