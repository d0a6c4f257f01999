// Recovery: the coordinator's memory rebuilt from the store when it starts (the sweeps and their
// schedules, unfinished trials, leases workers may still hold, early stopping's rungs, adaptive
// searches), so a restarted daemon carries on where the last one stopped.
#include <algorithm>
#include <optional>
#include <unordered_map>

#include "common/logging.h"
#include "coordinator/coordinator.h"
#include "jobs/sweep_spec.h"

namespace lf::coordinator {

using jobs::TrialState;

namespace {
constexpr const char* kScheduler = "scheduler";
}  // namespace

Status Coordinator::Recover() {
  LF_ASSIGN_OR_RETURN(std::vector<store::SweepRecord> sweeps, store_.ListSweeps());
  const int64_t now = clock_.NowMillis();
  std::vector<std::pair<std::string, jobs::SweepSpec>> early_stopping;  // open sweeps with it
  std::vector<std::pair<std::string, jobs::SweepSpec>> adaptive;        // open tpe, bohb, pbt
  for (auto& record : sweeps) {
    LiveSweep live;
    live.ordinal = sweep_order_.size();
    LF_ASSIGN_OR_RETURN(Json resolved, ParseJson(record.resolved, "sweep " + record.id));
    LF_ASSIGN_OR_RETURN(jobs::SweepSpec spec, jobs::ParseSweepSpec(resolved, "sweep"));
    live.max_retries = spec.max_retries;
    live.memory_bytes = spec.resources.memory_bytes;
    live.ranks = static_cast<int32_t>(spec.resources.gpus);
    const bool open =
        record.state == jobs::SweepState::kActive || record.state == jobs::SweepState::kPaused;
    if (open) {
      scheduler_.AddSweep(record.id, record.priority, spec.max_concurrent,
                          record.state == jobs::SweepState::kPaused);
      if (spec.early_stopping) early_stopping.emplace_back(record.id, spec);
      if (spec.adaptive()) adaptive.emplace_back(record.id, spec);
    }
    live.record = std::move(record);
    sweep_order_.push_back(live.record.id);
    sweeps_.emplace(live.record.id, std::move(live));
  }
  LF_ASSIGN_OR_RETURN(std::vector<store::TrialRecord> trials, store_.ListTrials({}));
  // An adaptive sweep's search state is its spec and its trials: what SetSearch needs is its first
  // trial's job (the default objective) and its longest trial (where the rungs sit).
  // One pass over the trials (every trial is read once, not once per adaptive sweep).
  struct SearchStart {
    std::optional<jobs::JobSpec> first;
    int64_t steps = 0;
  };
  std::unordered_map<std::string, SearchStart> starts;
  for (const auto& [id, spec] : adaptive) starts[id];
  for (const auto& t : trials) {
    auto it = starts.find(t.sweep_id);
    if (it == starts.end()) continue;
    Result<TrialConfig> config = ParseTrialConfig(t);
    if (!config.ok()) continue;
    if (!it->second.first) it->second.first = config->job;
    it->second.steps = std::max(it->second.steps, config->job.train.steps);
  }
  for (const auto& [id, spec] : adaptive) {
    const SearchStart& start = starts.at(id);
    if (start.first) SetSearch(sweeps_.at(id), spec, *start.first, start.steps);
  }
  size_t queued = 0, leased = 0;
  for (const auto& t : trials) {
    auto sit = sweeps_.find(t.sweep_id);
    if (sit == sweeps_.end()) continue;
    ++sit->second.counts[static_cast<size_t>(t.state)];
    if (t.result) sit->second.adapter_bytes += t.result->adapter_bytes;
    if (jobs::IsFinal(t.state) || t.state == TrialState::kFailed) continue;
    LiveTrial live{.sweep_id = t.sweep_id};
    if (Result<TrialConfig> config = ParseTrialConfig(t); config.ok()) {
      live = NewLiveTrial(t.sweep_id, t.index, config->job);
      if (sit->second.search) live.params = config->params;
    } else {  // it cannot train anywhere: the dispatch that picks it fails it, saying why
      LF_LOG_WARN("trial {}: its stored job does not parse: {}", t.id, config.status().ToString());
    }
    live.state = t.state;
    live.attempt = t.attempt;
    live.failures = t.failures;
    live.worker = t.worker;
    live.started_ms = t.started_ms;
    live.checkpoint = t.checkpoint;
    trials_.emplace(t.id, std::move(live));
    if (t.state == TrialState::kQueued && !scheduler_.HasSweep(t.sweep_id)) {
      // Its sweep was cancelled but this trial's cancellation never reached the store (a full
      // disk, before cancellations were stored ahead of the sweep): finish the job now.
      LF_LOG_WARN("trial {} is queued but its sweep {} is {}; cancelling it", t.id, t.sweep_id,
                  jobs::SweepStateName(sit->second.record.state));
      Move(t.id, TrialState::kCancelled, kScheduler, "its sweep was cancelled");
    } else if (t.state == TrialState::kQueued) {
      Enqueue(t.id, 0);
      ++queued;
    } else {
      orphans_[t.id] = {t.worker, t.attempt, now + options_.heartbeat_timeout_ms};
      ++leased;
    }
  }
  for (const auto& [id, spec] : early_stopping) {
    LF_RETURN_IF_ERROR(RecoverEarlyStopping(id, spec, trials));
  }
  for (const auto& [id, spec] : adaptive) {
    size_t replaced = 0;
    if (spec.search == "pbt") LF_RETURN_IF_ERROR(RecoverStopMarks(id, trials, &replaced));
  }
  for (const auto& id : sweep_order_) touched_sweeps_.push_back(id);
  LF_LOG_INFO("recovered {} sweeps; {} trials queued, {} held by workers before the restart",
              sweeps_.size(), queued, leased);
  return Status::Ok();
}

}  // namespace lf::coordinator
