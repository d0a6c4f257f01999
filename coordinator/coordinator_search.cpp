// Adaptive search: the trials tpe and bohb suggest as workers free up (jobs/tpe.h), and pbt's
// exploit and explore (jobs/pbt.h), which replaces a bad trial with a new one resuming from a
// copy of a good trial's checkpoint. Suggestions are pure functions of the sweep's spec and the
// trials the store holds, so a restarted coordinator carries on with nothing else to restore.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include "common/logging.h"
#include "coordinator/coordinator.h"
#include "jobs/tpe.h"

namespace lf::coordinator {

using jobs::TrialState;
namespace fs = std::filesystem;

namespace {
constexpr const char* kScheduler = "scheduler";

// How the sampler sees a stored trial; nullopt for one it leaves out (failed, cancelled).
std::optional<jobs::TpeObservation> Observe(const store::TrialRecord& t,
                                            const std::vector<jobs::Objective>& objectives) {
  Result<TrialConfig> config = ParseTrialConfig(t);
  if (!config.ok()) return std::nullopt;
  jobs::TpeObservation o{.index = t.index, .params = config->params};
  switch (t.state) {
    case TrialState::kQueued:
    case TrialState::kAssigned:
    case TrialState::kRunning:
      o.outcome = jobs::TpeObservation::Outcome::kRunning;
      return o;
    case TrialState::kCompleted:
    case TrialState::kStopped:
      if (!t.result) return std::nullopt;
      o.outcome = t.state == TrialState::kCompleted && !t.result->early_stopped()
                      ? jobs::TpeObservation::Outcome::kComplete
                      : jobs::TpeObservation::Outcome::kPruned;
      o.step = t.result->steps;
      for (const jobs::Objective& obj : objectives) {
        o.values.push_back(jobs::ObjectiveValue(obj, *t.result).value_or(std::nan("")));
      }
      return o;
    default:
      return std::nullopt;
  }
}

// The step of a stored checkpoint ("PATH@STEP"), or null.
Json StepOf(const std::string& text) {
  int64_t step = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), step);
  return ec == std::errc() && end == text.data() + text.size() ? Json(step) : Json();
}

}  // namespace

bool Coordinator::LiveSweep::suggesting() const {
  return search && search->model_based() && static_cast<int64_t>(record.trial_count) < planned;
}

void Coordinator::SetSearch(LiveSweep& sweep, const jobs::SweepSpec& spec,
                            const jobs::JobSpec& first_job, int64_t asha_steps) {
  sweep.search = std::make_shared<const jobs::SweepSpec>(spec);
  sweep.objectives = jobs::SearchObjectives(spec, first_job);
  sweep.planned = spec.model_based() ? spec.num_samples : 0;
  sweep.asha_steps = asha_steps;
}

bool Coordinator::SuggestTrials() {
  bool added = false;
  for (const std::string& id : sweep_order_) {
    LiveSweep& s = sweeps_.at(id);
    if (!s.suggesting() || s.record.state != jobs::SweepState::kActive ||
        s.counts[static_cast<size_t>(TrialState::kQueued)] > 0) {
      continue;
    }
    const int64_t held = s.counts[static_cast<size_t>(TrialState::kAssigned)] +
                         s.counts[static_cast<size_t>(TrialState::kRunning)];
    if (s.search->max_concurrent > 0 && held >= s.search->max_concurrent) continue;
    if (Status st = SuggestTrial(s); !st.ok()) {
      LF_LOG_WARN("sweep {}: no trial suggested: {}", id, st.ToString());
      continue;
    }
    added = true;
  }
  return added;
}

Status Coordinator::SuggestTrial(LiveSweep& s) {
  const jobs::SweepSpec& spec = *s.search;
  LF_ASSIGN_OR_RETURN(std::vector<store::TrialRecord> stored,
                      store_.ListTrials({.sweep_id = s.record.id}));
  std::vector<jobs::TpeObservation> history;
  for (const auto& t : stored) {
    if (auto o = Observe(t, s.objectives)) history.push_back(std::move(*o));
  }
  const uint32_t index = s.record.trial_count;
  const Json params = jobs::SuggestTpe(spec, s.objectives, history, index);
  Result<jobs::TrialSpec> trial = jobs::MakeTrial(spec, index, params);
  Json origin = {{"suggested_by", spec.search}, {"history", history.size()}};
  if (!trial.ok()) {
    // A value inside the ranges that the job refuses (the parse checked the ends): a random
    // trial instead, so the sweep goes on; if that fails too, it ends with what it has.
    LF_LOG_WARN("sweep {}: trial {} as suggested ({}) is refused: {}; drawing it at random",
                s.record.id, index, params.dump(), trial.status().ToString());
    trial = jobs::MakeTrial(spec, index, jobs::RandomParams(spec, index));
    origin = {{"suggested_by", "random"}, {"refused", params}};
    if (!trial.ok()) {
      s.planned = s.record.trial_count;
      touched_sweeps_.push_back(s.record.id);
      return trial.status().WithContext("the sweep ends with the trials it has");
    }
  }
  LF_ASSIGN_OR_RETURN(std::string trial_id, AddTrial(s, std::move(trial).value(), origin));
  LF_LOG_INFO("sweep {}: {} suggests trial {} {} ({} trials known)", s.record.id, spec.search,
              trial_id, params.dump(), history.size());
  return Status::Ok();
}

Result<std::string> Coordinator::AddTrial(LiveSweep& s, jobs::TrialSpec trial, Json origin) {
  store::TrialRecord r{
      .id = MakeTrialId(s.record.id, trial.index), .sweep_id = s.record.id, .index = trial.index};
  trial.job.output = (fs::path(options_.runs_dir) / s.record.id / r.id).string();
  r.config = TrialConfigJson({.job = trial.job, .params = trial.params, .origin = origin});
  LF_RETURN_IF_ERROR(store_.AddTrials(s.record.id, {r}, kScheduler));
  ++s.record.trial_count;
  ++s.counts[static_cast<size_t>(TrialState::kQueued)];
  LiveTrial live = NewLiveTrial(s.record.id, trial.index, trial.job);
  live.params = trial.params;
  trials_.emplace(r.id, std::move(live));
  Enqueue(r.id, 0);
  return r.id;
}

void Coordinator::ApplyPbt(const std::string& peer, const std::string& trial_id, LiveTrial& t,
                           const std::vector<protocol::MetricValue>& metrics) {
  LiveSweep& s = sweeps_.at(t.sweep_id);
  if (!s.search || s.search->search != "pbt" || t.state != TrialState::kRunning) return;
  const jobs::Objective& objective = s.objectives.front();
  const int64_t interval = s.search->pbt.perturbation_interval;
  for (const auto& v : metrics) {
    if (!t.early_stop.empty()) break;
    if (v.name != objective.name) continue;
    t.objective = v.value;
    if (v.step % interval != 0 || v.step >= t.steps || v.step <= t.decided_step) continue;
    t.decided_step = v.step;
    std::vector<jobs::PbtMember> population;
    for (const auto& [id, m] : trials_) {
      if (m.sweep_id != t.sweep_id || m.state != TrialState::kRunning || !m.early_stop.empty()) {
        continue;
      }
      population.push_back({.trial_id = id,
                            .index = m.index,
                            .value = m.objective,
                            .can_source = !m.checkpoint.empty(),
                            .params = m.params});
    }
    // The map's order is not the store's: rank ties and draws by index.
    std::sort(population.begin(), population.end(),
              [](const auto& a, const auto& b) { return a.index < b.index; });
    const uint64_t salt = (uint64_t{t.index} << 32) ^ static_cast<uint64_t>(v.step);
    if (auto exploit = jobs::DecidePbt(*s.search, objective, population, trial_id, salt)) {
      Exploit(s, trial_id, t, *exploit, v.step);
    }
  }
  TellToFinish(peer, trial_id, t);
}

// The new trial starts from a copy of the source's newest checkpoint, in its own output folder:
// the source trains on and removes its old checkpoints, and the copy must outlive them. Workers
// and the coordinator share the runs folder (docs/operations.md); where they do not, the copy
// fails and no exploit happens.
void Coordinator::Exploit(LiveSweep& s, const std::string& trial_id, LiveTrial& t,
                          const jobs::PbtExploit& exploit, int64_t step) {
  const LiveTrial& source = trials_.at(exploit.source_id);
  const size_t at = source.checkpoint.rfind('@');
  const std::string folder = source.checkpoint.substr(0, at);
  const std::string source_step = at == std::string::npos ? "" : source.checkpoint.substr(at + 1);
  const uint32_t index = s.record.trial_count;
  Result<jobs::TrialSpec> trial = jobs::MakeTrial(*s.search, index, exploit.params);
  if (!trial.ok()) {
    LF_LOG_WARN("trial {}: pbt's explored values {} are refused: {}", trial_id,
                exploit.params.dump(), trial.status().ToString());
    return;
  }
  const std::string new_id = MakeTrialId(s.record.id, index);
  const fs::path target = fs::path(options_.runs_dir) / s.record.id / new_id / "checkpoints" /
                          fs::path(folder).filename();
  std::error_code ec;
  fs::create_directories(target, ec);
  if (!ec) fs::copy(folder, target, fs::copy_options::recursive, ec);
  if (ec) {
    LF_LOG_WARN("trial {}: pbt would copy {}'s checkpoint {} but cannot ({}); no exploit", trial_id,
                exploit.source_id, folder, ec.message());
    fs::remove_all(target.parent_path().parent_path(), ec);
    return;
  }
  Json origin = {{"exploit",
                  {{"source", exploit.source_id},
                   {"source_step", StepOf(source_step)},
                   {"replaces", trial_id},
                   {"at_step", step}}}};
  Result<std::string> added = AddTrial(s, std::move(trial).value(), origin);
  if (!added.ok()) {
    LF_LOG_WARN("trial {}: pbt's replacement was not stored: {}", trial_id,
                added.status().ToString());
    fs::remove_all(target.parent_path().parent_path(), ec);
    return;
  }
  std::string changes;
  for (const std::string& key : s.search->pbt.mutable_keys) {
    changes += (changes.empty() ? "" : ", ") + key + " " + source.params.value(key, Json()).dump() +
               " -> " + exploit.params.value(key, Json()).dump();
  }
  MarkToFinish(trial_id, t, kPbtReplacedEvent,
               "pbt: " + s.objectives.front().name + " " + Json(t.objective).dump() + " at step " +
                   std::to_string(step) + " is in the bottom quantile; replaced by " + *added +
                   ", which resumes from " + exploit.source_id + "'s checkpoint at step " +
                   source_step + " with " + changes);
}

}  // namespace lf::coordinator
