#include "worker/agent/outbox.h"

#include <algorithm>
#include <utility>

namespace lf::worker {

void Outbox::AddMetrics(uint64_t generation, const std::string& trial_id, uint32_t attempt,
                        std::vector<protocol::MetricValue> metrics) {
  std::lock_guard<std::mutex> lock(mu_);
  if (silenced_.count(generation) > 0 || metrics.empty()) return;
  if (batch_generation_ && *batch_generation_ != generation) FlushMetricsLocked();
  if (!batch_generation_) {
    batch_generation_ = generation;
    batch_ = protocol::Progress{.trial_id = trial_id, .attempt = attempt, .metrics = {}};
  }
  for (auto& m : metrics) batch_.metrics.push_back(std::move(m));
}

void Outbox::Push(uint64_t generation, protocol::Message message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (silenced_.count(generation) > 0) return;
  FlushMetricsLocked();
  queue_.push_back({generation, std::move(message)});
}

void Outbox::Silence(uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  silenced_.insert(generation);
  if (batch_generation_ == generation) {
    batch_generation_.reset();
    batch_.metrics.clear();
  }
  std::erase_if(queue_, [&](const Entry& e) { return e.generation == generation; });
}

std::vector<protocol::Message> Outbox::Take(bool flush_metrics) {
  std::lock_guard<std::mutex> lock(mu_);
  if (flush_metrics) FlushMetricsLocked();
  std::vector<protocol::Message> out;
  out.reserve(queue_.size());
  for (auto& e : queue_) out.push_back(std::move(e.message));
  queue_.clear();
  return out;
}

bool Outbox::empty() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.empty() && !batch_generation_;
}

void Outbox::FlushMetricsLocked() {
  if (!batch_generation_) return;
  queue_.push_back({*batch_generation_, std::move(batch_)});
  batch_generation_.reset();
  batch_ = protocol::Progress();
}

}  // namespace lf::worker
