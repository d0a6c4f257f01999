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

void Coordinator::AddEarlyStopping(const std::string& sweep_id, const jobs::SweepSpec& spec,
                                   int64_t train_steps) {
  std::vector<std::optional<jobs::AshaState>> rules;
  if (spec.search == "bohb") {
    const jobs::AshaConfig& config = *spec.early_stopping;
    for (size_t b = 0; b < jobs::HyperbandBrackets(config, train_steps); ++b) {
      std::optional<jobs::AshaConfig> bracket =
          jobs::HyperbandBracketConfig(config, train_steps, b);
      rules.push_back(bracket ? std::optional(jobs::AshaState(*bracket, train_steps))
                              : std::nullopt);
    }
  } else {
    rules.emplace_back(jobs::AshaState(*spec.early_stopping, train_steps));
  }
  asha_.insert_or_assign(sweep_id, std::move(rules));
}

Status Coordinator::RecoverStopMarks(const std::string& sweep_id,
                                     const std::vector<store::TrialRecord>& trials,
                                     size_t* marked) {
  for (const auto& t : trials) {
    auto live = trials_.find(t.id);
    if (t.sweep_id != sweep_id || live == trials_.end()) continue;
    for (store::EventQuery query{.trial_id = t.id};;) {
      LF_ASSIGN_OR_RETURN(std::vector<store::EventRecord> events, store_.ReadEvents(query));
      for (const auto& e : events) {
        if (e.kind == kEarlyStoppedEvent || e.kind == kPbtReplacedEvent) {
          live->second.early_stop = e.detail;
        }
      }
      if (events.size() < query.limit) break;
      query.after_seq = events.back().seq;
    }
    *marked += live->second.early_stop.empty() ? 0 : 1;
  }
  return Status::Ok();
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
  AddEarlyStopping(sweep_id, spec, steps);
  std::vector<std::optional<jobs::AshaState>>& rules = asha_.at(sweep_id);
  for (const auto& t : trials) {
    if (t.sweep_id != sweep_id) continue;
    const size_t bracket = spec.search == "bohb" ? jobs::HyperbandBracket(*spec.early_stopping,
                                                                          steps, spec.seed, t.index)
                                                 : 0;
    if (bracket >= rules.size() || !rules[bracket]) continue;
    LF_ASSIGN_OR_RETURN(std::vector<store::MetricPoint> points,
                        store_.ReadMetrics(t.id, {.name = spec.early_stopping->metric}));
    std::vector<jobs::AshaState::Point> values;
    values.reserve(points.size());
    for (const auto& p : points) values.push_back({p.step, p.value});
    rules[bracket]->Restore(t.id, values);
  }
  size_t stopped = 0;
  LF_RETURN_IF_ERROR(RecoverStopMarks(sweep_id, trials, &stopped));
  LF_LOG_INFO(
      "sweep {}: early stopping on {} recovered ({} brackets; {} unfinished trials to stop)",
      sweep_id, spec.early_stopping->metric, rules.size(), stopped);
  return Status::Ok();
}

void Coordinator::ApplyEarlyStopping(const std::string& peer, const std::string& trial_id,
                                     LiveTrial& t,
                                     const std::vector<protocol::MetricValue>& metrics) {
  auto it = asha_.find(t.sweep_id);
  if (it == asha_.end() || t.state != TrialState::kRunning) return;
  if (t.bracket >= it->second.size() || !it->second[t.bracket]) return;  // a bracket that runs on
  jobs::AshaState& asha = *it->second[t.bracket];
  for (const auto& v : metrics) {
    if (!t.early_stop.empty()) break;
    if (v.name != asha.config().metric) continue;
    const jobs::AshaDecision d = asha.Record(trial_id, v.step, v.value);
    if (d.kind != jobs::AshaDecision::kStop) continue;
    MarkToFinish(trial_id, t, kEarlyStoppedEvent, asha.StopReason(d));
  }
  TellToFinish(peer, trial_id, t);
}

void Coordinator::MarkToFinish(const std::string& trial_id, LiveTrial& t, const char* event_kind,
                               std::string reason) {
  t.early_stop = std::move(reason);
  ++counters_.early_stops;
  LF_LOG_INFO("trial {} attempt {}: {}", trial_id, t.attempt, t.early_stop);
  pending_events_.push_back({.actor = kScheduler,
                             .kind = event_kind,
                             .sweep_id = t.sweep_id,
                             .trial_id = trial_id,
                             .detail = t.early_stop});
}

// Once per attempt: an attempt after a requeue (lost worker, pause) is told on its first report.
void Coordinator::TellToFinish(const std::string& peer, const std::string& trial_id, LiveTrial& t) {
  if (t.early_stop.empty() || t.early_stop_sent) return;
  t.early_stop_sent = true;
  sink_.Send(
      peer,
      protocol::Stop{
          .trial_id = trial_id, .attempt = t.attempt, .reason = t.early_stop, .finish = true});
}

}  // namespace lf::coordinator
