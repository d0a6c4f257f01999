// Messages on their way from training threads to the agent's main loop, which alone owns the
// socket. Metrics are batched into one PROGRESS per flush; any other message first flushes the
// metrics before it, so the coordinator sees them in the order they happened. Each trial run
// (a "generation") can be silenced: after a STOP nothing more of it is sent. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "common/protocol.h"

namespace lf::worker {

class Outbox {
 public:
  // Adds metrics of `generation`'s trial to the PROGRESS being batched.
  void AddMetrics(uint64_t generation, const std::string& trial_id, uint32_t attempt,
                  std::vector<protocol::MetricValue> metrics);
  // Queues a message (CHECKPOINT, DONE, FAILED) behind the metrics batched before it.
  void Push(uint64_t generation, protocol::Message message);
  // Drops what `generation` has queued or batched, and everything it adds later.
  void Silence(uint64_t generation);

  // What is ready to send, oldest first; the batched PROGRESS too when `flush_metrics`.
  std::vector<protocol::Message> Take(bool flush_metrics);
  bool empty() const;

 private:
  struct Entry {
    uint64_t generation;
    protocol::Message message;
  };
  void FlushMetricsLocked();

  mutable std::mutex mu_;
  std::deque<Entry> queue_;
  std::optional<uint64_t> batch_generation_;  // whose metrics `batch_` holds
  protocol::Progress batch_;
  std::set<uint64_t> silenced_;
};

}  // namespace lf::worker
