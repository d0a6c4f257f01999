// Messages on their way from training threads to the agent's main loop, which alone owns the
// socket. Each trial run (a "generation") has its metrics batched into one PROGRESS per flush, so
// a pack's trials, whose metrics interleave every step, still send one each; any other message of
// a run first flushes that run's metrics, so the coordinator sees them in the order they happened.
// A run can be silenced: after a STOP nothing more of it is sent. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "jobs/protocol.h"

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
  void FlushMetricsLocked(uint64_t generation);

  mutable std::mutex mu_;
  std::deque<Entry> queue_;
  std::map<uint64_t, protocol::Progress> batches_;  // metrics not yet queued, by generation
  std::set<uint64_t> silenced_;
};

}  // namespace lf::worker
