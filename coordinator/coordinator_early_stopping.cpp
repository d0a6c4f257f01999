// Early stopping: a sweep's ASHA rule (jobs/asha.h) applied to the metric its running trials
// report, the STOP that asks a worker to finish a trial early, and the rung records and decisions
// rebuilt from the store (metrics and the audit log) after a restart.
#include <algorithm>

#include "common/logging.h"
#include "coordinator/coordinator.h"

namespace lf::coordinator {

using jobs::TrialState;

namespace {
constexpr const char* kScheduler = "scheduler";
constexpr const char* kEarlyStoppedEvent = "trial.early_stopped";
}  // namespace

void Coordinator::AddEarlyStopping(const std::string& sweep_id, const jobs::AshaConfig& config,
                                   int64_t train_steps) {
  asha_.insert_or_assign(sweep_id, jobs::AshaState(config, train_steps));
}

// The rungs hold every value recorded before the restart: each trial's stored reports replayed in
// step order give the same first report per rung (a resumed attempt that replayed a step with
// another value leaves the store's, the newer one). Which trials were stopped is in the audit log.
Status Coordinator::RecoverEarlyStopping(const std::string& sweep_id, const jobs::SweepSpec& spec,
                                         const std::vector<store::TrialRecord>& trials) {
  int64_t steps = 0;
  for (const auto& t : trials) {
    if (t.sweep_id != sweep_id) continue;
    if (auto config = ParseJson(t.config, "trial " + t.id); config.ok()) {
      steps = std::max(steps, config->value(Json::json_pointer("/job/train/steps"), int64_t{0}));
    }
  }
  AddEarlyStopping(sweep_id, *spec.early_stopping, steps);
  jobs::AshaState& asha = asha_.at(sweep_id);
  size_t stopped = 0;
  for (const auto& t : trials) {
    if (t.sweep_id != sweep_id) continue;
    LF_ASSIGN_OR_RETURN(std::vector<store::MetricPoint> points,
                        store_.ReadMetrics(t.id, {.name = spec.early_stopping->metric}));
    std::vector<jobs::AshaState::Point> values;
    values.reserve(points.size());
    for (const auto& p : points) values.push_back({p.step, p.value});
    asha.Restore(t.id, values);
    auto live = trials_.find(t.id);
    if (live == trials_.end()) continue;
    for (store::EventQuery query{.trial_id = t.id};;) {
      LF_ASSIGN_OR_RETURN(std::vector<store::EventRecord> events, store_.ReadEvents(query));
      for (const auto& e : events) {
        if (e.kind == kEarlyStoppedEvent) live->second.early_stop = e.detail;
      }
      if (events.size() < query.limit) break;
      query.after_seq = events.back().seq;
    }
    stopped += live->second.early_stop.empty() ? 0 : 1;
  }
  LF_LOG_INFO("sweep {}: early stopping on {} recovered ({} rungs; {} unfinished trials to stop)",
              sweep_id, spec.early_stopping->metric, asha.rung_steps().size(), stopped);
  return Status::Ok();
}

void Coordinator::ApplyEarlyStopping(const std::string& peer, const std::string& trial_id,
                                     LiveTrial& t,
                                     const std::vector<protocol::MetricValue>& metrics) {
  auto it = asha_.find(t.sweep_id);
  if (it == asha_.end() || t.state != TrialState::kRunning) return;
  jobs::AshaState& asha = it->second;
  for (const auto& v : metrics) {
    if (!t.early_stop.empty()) break;
    if (v.name != asha.config().metric) continue;
    const jobs::AshaDecision d = asha.Record(trial_id, v.step, v.value);
    if (d.kind != jobs::AshaDecision::kStop) continue;
    t.early_stop = asha.StopReason(d);
    ++counters_.early_stops;
    LF_LOG_INFO("trial {} attempt {}: {}", trial_id, t.attempt, t.early_stop);
    pending_events_.push_back({.actor = kScheduler,
                               .kind = kEarlyStoppedEvent,
                               .sweep_id = t.sweep_id,
                               .trial_id = trial_id,
                               .detail = t.early_stop});
  }
  // Once per attempt: an attempt after a requeue (lost worker, pause) is told on its first report.
  if (!t.early_stop.empty() && !t.early_stop_sent) {
    t.early_stop_sent = true;
    sink_.Send(
        peer,
        protocol::Stop{
            .trial_id = trial_id, .attempt = t.attempt, .reason = t.early_stop, .finish = true});
  }
}

}  // namespace lf::coordinator
