// User requests: submitting sweeps, and cancelling, pausing, resuming and re-prioritising them.
// Every request is checked completely before it writes: a refused one stores nothing.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <set>

#include "common/logging.h"
#include "common/yaml.h"
#include "coordinator/coordinator.h"
#include "jobs/job_spec.h"
#include "jobs/sweep_spec.h"

namespace lf::coordinator {

using jobs::SweepState;
using jobs::TrialState;
namespace fs = std::filesystem;

namespace {

}  // namespace

Result<TrialConfig> ParseTrialConfig(const store::TrialRecord& t) {
  LF_ASSIGN_OR_RETURN(Json doc, ParseJson(t.config, "trial " + t.id));
  TrialConfig config;
  config.params = doc.value("params", Json::object());
  LF_ASSIGN_OR_RETURN(config.job,
                      jobs::ParseJobSpec(doc.value("job", Json()), "trial " + t.id + ".job"));
  config.origin = doc.value("origin", Json());
  return config;
}

std::string TrialConfigJson(const TrialConfig& config) {
  Json doc = {{"job", jobs::JobSpecToJson(config.job)}, {"params", config.params}};
  if (!config.origin.is_null()) doc["origin"] = config.origin;
  return doc.dump();
}

// What the owner and the whole fleet hold now, against the quotas, before anything is stored.
Status Coordinator::CheckQuotas(const std::string& owner, int64_t new_trials) const {
  const CoordinatorOptions::Quotas& q = options_.quotas;
  int64_t owner_unfinished = 0, total_unfinished = 0, owner_bytes = 0, total_bytes = 0;
  for (const auto& [id, s] : sweeps_) {
    total_unfinished += s.unfinished();
    total_bytes += s.adapter_bytes;
    if (s.record.owner == owner) {
      owner_unfinished += s.unfinished();
      owner_bytes += s.adapter_bytes;
    }
  }
  const auto over = [](int64_t limit, int64_t value) { return limit > 0 && value > limit; };
  const std::string what = "sweep: its " + std::to_string(new_trials) + " trials";
  if (over(q.unfinished_per_owner, owner_unfinished + new_trials)) {
    return ResourceExhausted(what + " and the " + std::to_string(owner_unfinished) +
                             " unfinished trials of owner '" + owner + "' are more than the " +
                             std::to_string(q.unfinished_per_owner) +
                             " one owner may have queued or running (--quota-trials-per-owner); "
                             "wait for some to finish, or cancel some");
  }
  if (over(q.unfinished_total, total_unfinished + new_trials)) {
    return ResourceExhausted(what + " and the fleet's " + std::to_string(total_unfinished) +
                             " unfinished trials are more than its limit of " +
                             std::to_string(q.unfinished_total) +
                             " (--quota-trials); wait for some to finish");
  }
  if (over(q.adapter_bytes_per_owner, owner_bytes)) {
    return ResourceExhausted("sweep: owner '" + owner + "' already stores " +
                             std::to_string(owner_bytes >> 20) + " MiB of adapters, over the " +
                             std::to_string(q.adapter_bytes_per_owner >> 20) +
                             " MiB quota (--quota-adapter-mib-per-owner); remove old sweeps' "
                             "adapters (lorafleet-store) first");
  }
  if (over(q.adapter_bytes_total, total_bytes)) {
    return ResourceExhausted("sweep: the store already holds " + std::to_string(total_bytes >> 20) +
                             " MiB of adapters, over the fleet's " +
                             std::to_string(q.adapter_bytes_total >> 20) +
                             " MiB quota (--quota-adapter-mib); remove old sweeps' adapters first");
  }
  return Status::Ok();
}

Result<Json> Coordinator::Submit(const SubmitRequest& request) {
  const std::string source = request.source.empty() ? "sweep" : request.source;
  auto doc = ParseYaml(request.spec, source);
  if (!doc.ok()) return doc.status();
  auto spec = jobs::ParseSweepSpec(*doc, "sweep");
  if (!spec.ok()) return spec.status();
  const CoordinatorOptions::Quotas& quotas = options_.quotas;
  auto expanded = jobs::ExpandSweep(
      *spec, quotas.trials_per_sweep > 0 ? static_cast<size_t>(quotas.trials_per_sweep) : SIZE_MAX,
      quotas.sweep_bytes > 0 ? static_cast<size_t>(quotas.sweep_bytes) : SIZE_MAX);
  if (!expanded.ok()) return expanded.status();
  std::vector<jobs::TrialSpec>& trials = *expanded;
  if (trials.empty()) return InvalidArgument("sweep: expands to no trials");
  LF_RETURN_IF_ERROR(CheckQuotas(request.owner, jobs::PlannedTrials(*spec)));
  std::string base_dir = request.base_dir;
  if (base_dir.empty()) base_dir = fs::current_path().string();
  if (!fs::path(base_dir).is_absolute()) {
    return InvalidArgument("base_dir: '" + base_dir + "' must be an absolute directory");
  }
  // Trials made later read the same files, wherever the coordinator runs from.
  if (spec->adaptive()) jobs::ResolveSweepPaths(&*spec, base_dir);

  const std::string sweep_id = ids_.NextSweepId();
  std::set<std::string> checked;
  std::vector<store::TrialRecord> records;
  records.reserve(trials.size());
  for (auto& trial : trials) {
    jobs::ResolveJobPaths(&trial.job, base_dir);
    if (options_.check_paths) {
      if (Status st = jobs::CheckTrialFiles(trial, &checked); !st.ok()) return st;
    }
    store::TrialRecord r;
    r.id = MakeTrialId(sweep_id, trial.index);
    r.sweep_id = sweep_id;
    r.index = trial.index;
    trial.job.output = (fs::path(options_.runs_dir) / sweep_id / r.id).string();
    r.config = TrialConfigJson({.job = trial.job, .params = trial.params});
    records.push_back(std::move(r));
  }
  store::SweepRecord sweep{.id = sweep_id,
                           .name = spec->name,
                           .owner = request.owner,
                           .spec = request.spec,
                           .resolved = jobs::SweepSpecToJson(*spec).dump(),
                           .priority = spec->priority,
                           .trial_count = static_cast<uint32_t>(records.size())};
  const std::string actor = request.actor.empty() ? "user:" + request.owner : request.actor;
  if (Status st = store_.CreateSweep(sweep, records, actor); !st.ok()) {
    return st;
  }
  // Stored: from here on the sweep is live whatever else fails, or memory and store would differ.
  auto stored = store_.GetSweep(sweep_id);
  if (!stored.ok()) {
    LF_LOG_ERROR("sweep {} was stored but does not read back ({}); carrying on with the record "
                 "as submitted", sweep_id, stored.status().ToString());
    stored = sweep;
  }

  LiveSweep live{.record = *stored,
                 .max_retries = spec->max_retries,
                 .memory_bytes = spec->resources.memory_bytes,
                 .ranks = static_cast<int32_t>(spec->resources.gpus),
                 .ordinal = sweep_order_.size()};
  live.counts[static_cast<size_t>(TrialState::kQueued)] = static_cast<int64_t>(records.size());
  sweep_order_.push_back(sweep_id);
  sweeps_.emplace(sweep_id, std::move(live));
  scheduler_.AddSweep(sweep_id, spec->priority, spec->max_concurrent, /*paused=*/false);
  int64_t steps = 0;
  for (const auto& trial : trials) steps = std::max(steps, trial.job.train.steps);
  LiveSweep& added = sweeps_.at(sweep_id);
  if (spec->adaptive()) SetSearch(added, *spec, trials.front().job, steps);
  if (spec->early_stopping) AddEarlyStopping(sweep_id, *spec, steps);
  for (size_t i = 0; i < records.size(); ++i) {
    LiveTrial live = NewLiveTrial(sweep_id, trials[i].index, trials[i].job);
    if (added.search) live.params = trials[i].params;
    trials_.emplace(records[i].id, std::move(live));
    Enqueue(records[i].id, 0);
  }
  LF_LOG_INFO("sweep {} ({}) submitted by {}: {} trials", sweep_id, spec->name, request.owner,
              records.size());
  Flush();
  Json out = {{"sweep", SweepJson(sweeps_.at(sweep_id))}, {"trials", Json::array()}};
  constexpr size_t kListed = 1000;  // a huge sweep's trials are listed by GET /v1/trials
  for (size_t i = 0; i < records.size() && i < kListed; ++i) {
    auto t = store_.GetTrial(records[i].id);
    if (t.ok()) out["trials"].push_back(TrialJson(*t));
  }
  return out;
}

Result<Coordinator::LiveSweep*> Coordinator::FindSweep(const std::string& sweep_id) {
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end()) return NotFound("no sweep with id '" + sweep_id + "'");
  return &it->second;
}

// Moves a live trial to cancelled; its workers are told to stop once that is stored. A refused
// write leaves the trial as the store has it (Commit reconciles) and sets *refused.
void Coordinator::CancelLive(const std::string& trial_id, const std::string& actor,
                             const std::string& reason, std::shared_ptr<Status> refused) {
  std::vector<std::string> holders = scheduler_.Holders(trial_id);
  const uint32_t attempt = trials_.at(trial_id).attempt;
  scheduler_.Dequeue(trial_id);
  Move(trial_id, TrialState::kCancelled, actor, reason,
       [this, trial_id, reason, holders, attempt, refused](const Result<store::TrialRecord>& r) {
         if (!r.ok()) {
           if (refused->ok()) *refused = r.status();
           return;
         }
         for (const std::string& worker : holders) {
           sink_.Send(worker,
                      protocol::Stop{.trial_id = trial_id, .attempt = attempt, .reason = reason});
         }
       });
}

Result<Json> Coordinator::CancelSweep(const std::string& sweep_id, const std::string& actor) {
  LF_ASSIGN_OR_RETURN(LiveSweep * s, FindSweep(sweep_id));
  // The trials first, then the sweep: a store that refuses part of it never holds a cancelled
  // sweep with trials still to run.
  std::vector<std::string> ids;
  for (const auto& [id, t] : trials_) {
    if (t.sweep_id == sweep_id) ids.push_back(id);
  }
  auto refused = std::make_shared<Status>();
  for (const auto& id : ids) {
    if (trials_.at(id).state == TrialState::kFailed) continue;  // waiting for its retry commit
    CancelLive(id, actor, "the sweep was cancelled", refused);
  }
  Commit();
  if (!refused->ok()) {
    Flush();
    return Unavailable("sweep " + sweep_id + " is not cancelled: the store refused to cancel its "
                       "trials (" + refused->message() + "); try again once it takes writes");
  }
  LF_ASSIGN_OR_RETURN(s->record, store_.UpdateSweep(sweep_id, {.expected_state = s->record.state,
                                                               .state = SweepState::kCancelled,
                                                               .actor = actor,
                                                               .reason = "cancelled"}));
  Flush();
  scheduler_.RemoveSweep(sweep_id);
  asha_.erase(sweep_id);
  LF_LOG_INFO("sweep {} cancelled by {}", sweep_id, actor);
  return Json{{"sweep", SweepJson(*s)}};
}

Result<Json> Coordinator::PauseSweep(const std::string& sweep_id, const std::string& actor) {
  LF_ASSIGN_OR_RETURN(LiveSweep * s, FindSweep(sweep_id));
  LF_ASSIGN_OR_RETURN(s->record, store_.UpdateSweep(sweep_id, {.expected_state = SweepState::kActive,
                                                               .state = SweepState::kPaused,
                                                               .actor = actor,
                                                               .reason = "paused"}));
  scheduler_.SetPaused(sweep_id, true);
  // Running trials stop at their next step, checkpoint, and wait in the queue for the resume.
  std::vector<std::string> held;
  for (const auto& [id, t] : trials_) {
    if (t.sweep_id == sweep_id && (t.state == TrialState::kAssigned ||
                                   t.state == TrialState::kRunning)) {
      held.push_back(id);
    }
  }
  for (const auto& id : held) {
    StopOnWorker(id, "the sweep was paused");
    Requeue(id, actor, "the sweep was paused; resumes from its checkpoint");
  }
  Flush();
  LF_LOG_INFO("sweep {} paused by {} ({} running trials stopped)", sweep_id, actor, held.size());
  return Json{{"sweep", SweepJson(*s)}};
}

Result<Json> Coordinator::ResumeSweep(const std::string& sweep_id, const std::string& actor) {
  LF_ASSIGN_OR_RETURN(LiveSweep * s, FindSweep(sweep_id));
  LF_ASSIGN_OR_RETURN(s->record, store_.UpdateSweep(sweep_id, {.expected_state = SweepState::kPaused,
                                                               .state = SweepState::kActive,
                                                               .actor = actor,
                                                               .reason = "resumed"}));
  scheduler_.SetPaused(sweep_id, false);
  touched_sweeps_.push_back(sweep_id);
  Flush();
  LF_LOG_INFO("sweep {} resumed by {}", sweep_id, actor);
  return Json{{"sweep", SweepJson(*s)}};
}

Result<Json> Coordinator::SetSweepPriority(const std::string& sweep_id, int32_t priority,
                                           const std::string& actor) {
  LF_ASSIGN_OR_RETURN(LiveSweep * s, FindSweep(sweep_id));
  LF_ASSIGN_OR_RETURN(s->record, store_.UpdateSweep(sweep_id, {.priority = priority,
                                                               .actor = actor,
                                                               .reason = "priority changed"}));
  scheduler_.SetPriority(sweep_id, priority);
  Flush();
  return Json{{"sweep", SweepJson(*s)}};
}

Result<Json> Coordinator::CancelTrial(const std::string& trial_id, const std::string& actor) {
  auto it = trials_.find(trial_id);
  if (it == trials_.end()) {
    LF_ASSIGN_OR_RETURN(store::TrialRecord t, store_.GetTrial(trial_id));
    return FailedPrecondition("trial " + trial_id + " is already " +
                              std::string(jobs::TrialStateName(t.state)) +
                              "; only queued, assigned or running trials can be cancelled");
  }
  if (it->second.state == TrialState::kFailed) {
    return Conflict("trial " + trial_id + " is between a failure and its retry; try again");
  }
  auto refused = std::make_shared<Status>();
  CancelLive(trial_id, actor, "cancelled by " + actor, refused);
  Flush();
  if (!refused->ok()) {
    if (refused->code() == StatusCode::kConflict) {  // it moved on meanwhile (finished, failed)
      return Conflict("trial " + trial_id + " is not cancelled: " + refused->message());
    }
    return Unavailable("trial " + trial_id + " is not cancelled: " + refused->message() +
                       "; try again once the store takes writes");
  }
  LF_ASSIGN_OR_RETURN(store::TrialRecord t, store_.GetTrial(trial_id));
  LF_LOG_INFO("trial {} cancelled by {}", trial_id, actor);
  return Json{{"trial", TrialJson(t)}};
}

Result<Json> Coordinator::TagTrial(const std::string& trial_id, const std::string& name,
                                   const std::string& actor) {
  const bool valid =
      !name.empty() && name.size() <= 64 && std::isalnum(static_cast<unsigned char>(name[0])) &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
      });
  if (!valid) {
    return InvalidArgument("tag '" + name + "': a tag is 1-64 letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit");
  }
  LF_ASSIGN_OR_RETURN(store::TrialRecord t, store_.GetTrial(trial_id));
  if (t.state != TrialState::kCompleted && t.state != TrialState::kStopped) {
    return FailedPrecondition("trial " + trial_id + " is " +
                              std::string(jobs::TrialStateName(t.state)) +
                              "; only a completed (or early-stopped) trial has an adapter to tag");
  }
  LF_RETURN_IF_ERROR(store_.SetTag({.name = name, .trial_id = trial_id, .actor = actor}));
  LF_LOG_INFO("adapter of {} tagged {} by {}", trial_id, name, actor);
  return Json{{"tag", {{"name", name}, {"trial_id", trial_id}}}};
}

}  // namespace lf::coordinator
