#include "worker/agent/outbox.h"

#include <algorithm>
#include <utility>

namespace lf::worker {

void Outbox::AddMetrics(uint64_t generation, const std::string& trial_id, uint32_t attempt,
                        std::vector<protocol::MetricValue> metrics) {
  std::lock_guard<std::mutex> lock(mu_);
  if (silenced_.count(generation) > 0 || metrics.empty()) return;
  auto [it, added] = batches_.try_emplace(generation);
  if (added)
    it->second = protocol::Progress{.trial_id = trial_id, .attempt = attempt, .metrics = {}};
  for (auto& m : metrics) it->second.metrics.push_back(std::move(m));
}

void Outbox::Push(uint64_t generation, protocol::Message message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (silenced_.count(generation) > 0) return;
  FlushMetricsLocked(generation);
  queue_.push_back({generation, std::move(message)});
}

void Outbox::Silence(uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  silenced_.insert(generation);
  batches_.erase(generation);
  std::erase_if(queue_, [&](const Entry& e) { return e.generation == generation; });
}

std::vector<protocol::Message> Outbox::Take(bool flush_metrics) {
  std::lock_guard<std::mutex> lock(mu_);
  if (flush_metrics) {
    for (auto& [generation, batch] : batches_) queue_.push_back({generation, std::move(batch)});
    batches_.clear();
  }
  std::vector<protocol::Message> out;
  out.reserve(queue_.size());
  for (auto& e : queue_) out.push_back(std::move(e.message));
  queue_.clear();
  return out;
}

bool Outbox::empty() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.empty() && batches_.empty();
}

void Outbox::FlushMetricsLocked(uint64_t generation) {
  auto it = batches_.find(generation);
  if (it == batches_.end()) return;
  queue_.push_back({generation, std::move(it->second)});
  batches_.erase(it);
}

}  // namespace lf::worker
