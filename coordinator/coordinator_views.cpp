// What the API shows: sweeps, trials, the queue, the workers and the comparison table. The JSON
// shapes are documented in docs/api.md; keep the two in step.
#include <algorithm>
#include <cmath>
#include <map>

#include "common/version.h"
#include "coordinator/coordinator.h"
#include "jobs/compare.h"
#include "jobs/repeats.h"

namespace lf::coordinator {

using jobs::TrialState;

namespace {

Json CountsJson(const std::array<int64_t, 7>& counts) {
  Json j = Json::object();
  for (TrialState s : jobs::AllTrialStates()) {
    j[std::string(jobs::TrialStateName(s))] = counts[static_cast<size_t>(s)];
  }
  return j;
}

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

// The comparison's view of a stored trial.
Result<jobs::TrialSummary> SummaryOf(const store::TrialRecord& t) {
  LF_ASSIGN_OR_RETURN(TrialConfig config, ParseTrialConfig(t));
  return jobs::TrialSummary{.trial_id = t.id,
                            .sweep_id = t.sweep_id,
                            .state = t.state,
                            .params = std::move(config.params),
                            .job = std::move(config.job),
                            .result = t.result};
}

}  // namespace

Json Coordinator::SweepJson(const LiveSweep& s) const {
  const auto& r = s.record;
  return {{"id", r.id},
          {"name", r.name},
          {"owner", r.owner},
          {"state", jobs::SweepStateName(r.state)},
          {"priority", r.priority},
          {"trial_count", r.trial_count},
          {"created_ms", r.created_ms},
          {"updated_ms", r.updated_ms},
          {"counts", CountsJson(s.counts)},
          // tpe and bohb: the trials the sweep runs in all (trial_count grows to it); else the
          // trials it has (pbt's replacements come on top of its population)
          {"planned_trials", s.planned > 0 ? s.planned : int64_t{r.trial_count}}};
}

Json Coordinator::TrialJson(const store::TrialRecord& t) const {
  Json j = {{"id", t.id},
            {"sweep_id", t.sweep_id},
            {"index", t.index},
            {"state", jobs::TrialStateName(t.state)},
            {"attempt", t.attempt},
            {"failures", t.failures},
            {"worker", t.worker},
            {"last_error", t.last_error},
            {"checkpoint", t.checkpoint},
            {"created_ms", t.created_ms},
            {"updated_ms", t.updated_ms},
            {"started_ms", t.started_ms},
            {"finished_ms", t.finished_ms},
            {"params", Json::object()},
            {"step", 0},
            {"steps", 0},
            {"job", Json::object()}};
  if (auto config = ParseJson(t.config, "trial " + t.id); config.ok()) {
    j["params"] = config->value("params", Json::object());
    j["job"] = config->value("job", Json::object());
    j["origin"] = config->value("origin", Json());
    j["steps"] = j["job"].value(Json::json_pointer("/train/steps"), int64_t{0});
  }
  j["loss"] = nullptr;
  if (auto live = trials_.find(t.id); live != trials_.end()) {
    j["step"] = live->second.step;
    if (live->second.loss) j["loss"] = *live->second.loss;
    // The store has the checkpoint as of the last state change; a running trial's is newer.
    if (!live->second.checkpoint.empty()) j["checkpoint"] = live->second.checkpoint;
  } else if (t.state == TrialState::kCompleted) {
    j["step"] = j["steps"];
  } else if (t.state == TrialState::kStopped && t.result) {
    // Early stopping ended it short of its steps: how far it got is in its result.
    j["step"] = t.result->steps;
  }
  return j;
}

Result<Json> Coordinator::ListSweepsView() const {
  Json list = Json::array();
  for (const auto& id : sweep_order_) list.push_back(SweepJson(sweeps_.at(id)));
  return Json{{"sweeps", std::move(list)}};
}

Result<Json> Coordinator::SweepView(const std::string& sweep_id) const {
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end()) return NotFound("no sweep with id '" + sweep_id + "'");
  LF_ASSIGN_OR_RETURN(Json trials, TrialsView(sweep_id, {}));
  return Json{{"sweep", SweepJson(it->second)}, {"trials", std::move(trials["trials"])}};
}

Result<Json> Coordinator::TrialsView(const std::optional<std::string>& sweep_id,
                                     const std::vector<TrialState>& states, size_t limit) const {
  if (sweep_id && !sweeps_.count(*sweep_id)) {
    return NotFound("no sweep with id '" + *sweep_id + "'");
  }
  LF_ASSIGN_OR_RETURN(auto trials, store_.ListTrials({.sweep_id = sweep_id, .states = states}));
  Json list = Json::array();
  for (size_t i = 0; i < trials.size() && i < limit; ++i) list.push_back(TrialJson(trials[i]));
  return Json{{"trials", std::move(list)}, {"truncated", trials.size() > limit}};
}

Result<Json> Coordinator::TrialView(const std::string& trial_id) const {
  LF_ASSIGN_OR_RETURN(store::TrialRecord t, store_.GetTrial(trial_id));
  return Json{{"trial", TrialJson(t)}};
}

// The comparison (jobs::Compare) of every trial of the sweeps, with the columns clients show.
Result<Json> Coordinator::CompareView(const std::vector<std::string>& sweep_ids) const {
  if (sweep_ids.empty()) return InvalidArgument("name at least one sweep to compare");
  // A sweep named twice is compared once: the view's cost follows the distinct sweeps.
  std::vector<std::string> distinct;
  for (const std::string& id : sweep_ids) {
    if (std::find(distinct.begin(), distinct.end(), id) == distinct.end()) distinct.push_back(id);
  }
  if (distinct.size() > kMaxComparedSweeps) {
    return InvalidArgument("sweeps: " + std::to_string(distinct.size()) +
                           " sweeps named; compare at most " +
                           std::to_string(kMaxComparedSweeps) + " at once")
        .WithField("sweeps");
  }
  Json sweeps = Json::array();
  std::vector<jobs::TrialSummary> trials;
  // The front weighs the sweeps' stated objectives when they all state the same ones.
  std::optional<std::vector<jobs::Objective>> objectives;
  for (const std::string& sweep_id : distinct) {
    auto it = sweeps_.find(sweep_id);
    if (it == sweeps_.end()) return NotFound("no sweep with id '" + sweep_id + "'");
    sweeps.push_back(SweepJson(it->second));
    std::vector<jobs::Objective> stated;
    if (auto resolved = ParseJson(it->second.record.resolved, "sweep " + sweep_id); resolved.ok()) {
      if (auto spec = jobs::ParseSweepSpec(*resolved); spec.ok()) stated = spec->objectives;
    }
    if (!objectives) {
      objectives = stated;
    } else if (*objectives != stated) {
      objectives = std::vector<jobs::Objective>{};
    }
    LF_ASSIGN_OR_RETURN(auto records, store_.ListTrials({.sweep_id = sweep_id}));
    for (const auto& t : records) {
      LF_ASSIGN_OR_RETURN(jobs::TrialSummary summary, SummaryOf(t));
      trials.push_back(std::move(summary));
    }
  }
  LF_ASSIGN_OR_RETURN(jobs::Comparison comparison,
                      jobs::Compare(std::move(trials), objectives.value_or(
                                                           std::vector<jobs::Objective>{})));
  Json rows = Json::array();
  for (const jobs::CompareRow& row : comparison.rows) rows.push_back(jobs::CompareRowToJson(row));
  Json repeats = Json::array();
  for (const jobs::RepeatGroup& g : jobs::GroupRepeats(comparison)) {
    repeats.push_back(jobs::RepeatGroupToJson(g));
  }
  Json out = {{"sweeps", sweeps},
              {"base_model", comparison.base_model},
              {"columns", jobs::CompareColumnsToJson()},
              {"rows", std::move(rows)},
              {"repeats", std::move(repeats)},
              {"front_objectives", jobs::ObjectivesToJson(comparison.objectives)}};
  if (sweeps.size() == 1) out["sweep"] = sweeps[0];
  return out;
}

Result<Json> Coordinator::AdaptersView(const std::optional<std::string>& tag) const {
  LF_ASSIGN_OR_RETURN(std::vector<store::TagRecord> tags, store_.ListTags());
  std::map<std::string, std::vector<std::string>> names;  // trial -> its tags
  for (const auto& t : tags) names[t.trial_id].push_back(t.name);
  std::vector<store::TrialRecord> trials;
  if (tag) {
    auto it = std::find_if(tags.begin(), tags.end(),
                           [&](const store::TagRecord& t) { return t.name == *tag; });
    if (it == tags.end()) return NotFound("no adapter is tagged '" + *tag + "'");
    LF_ASSIGN_OR_RETURN(store::TrialRecord t, store_.GetTrial(it->trial_id));
    trials.push_back(std::move(t));
  } else {
    LF_ASSIGN_OR_RETURN(
        trials, store_.ListTrials({.states = {TrialState::kCompleted, TrialState::kStopped}}));
  }
  std::sort(trials.begin(), trials.end(), [](const auto& a, const auto& b) {
    return a.finished_ms != b.finished_ms ? a.finished_ms > b.finished_ms : a.id > b.id;
  });
  Json rows = Json::array();
  for (const auto& t : trials) {
    Json trial = TrialJson(t);
    const Json& job = trial["job"];
    auto sweep = sweeps_.find(t.sweep_id);
    const std::optional<jobs::TrialResult>& result = t.result;
    rows.push_back(
        {{"trial_id", t.id},
         {"sweep_id", t.sweep_id},
         {"state", jobs::TrialStateName(t.state)},
         {"sweep_name", sweep == sweeps_.end() ? Json(nullptr) : Json(sweep->second.record.name)},
         {"method", job.value("method", "lora")},
         {"base_model", job.value("base_model", "")},
         {"base_model_sha256",
          result && result->base_model.is_object() ? result->base_model.value("sha256", Json(nullptr))
                                                     : Json(nullptr)},
         {"eval_loss", result ? OrNull(result->eval_loss) : Json(nullptr)},
         {"adapter_bytes", result ? Json(result->adapter_bytes) : Json(nullptr)},
         {"finished_ms", t.finished_ms},
         {"tags", names.count(t.id) ? Json(names[t.id]) : Json::array()}});
  }
  return Json{{"adapters", std::move(rows)}};
}

Json Coordinator::QueueView(size_t limit) const {
  const int64_t now = clock_.NowMillis();
  Json counts = Json::object();
  std::array<int64_t, 7> totals{};
  for (const auto& [id, s] : sweeps_) {
    for (size_t i = 0; i < totals.size(); ++i) totals[i] += s.counts[i];
  }
  Json queued = Json::array();
  for (const auto& q : scheduler_.QueueSnapshot()) {
    if (queued.size() >= limit) break;
    const auto& sweep = sweeps_.at(q.sweep_id);
    queued.push_back({{"trial_id", q.trial_id},
                      {"sweep_id", q.sweep_id},
                      {"priority", sweep.record.priority},
                      {"paused", sweep.record.state == jobs::SweepState::kPaused},
                      {"attempt", trials_.at(q.trial_id).attempt},
                      {"waiting_s", Seconds(now - q.queued_ms)},
                      {"eligible_in_s", Seconds(std::max<int64_t>(0, q.not_before_ms - now))}});
  }
  Json running = Json::array();
  for (const auto& [id, t] : trials_) {
    if (t.state != TrialState::kAssigned && t.state != TrialState::kRunning) continue;
    running.push_back({{"trial_id", id},
                       {"sweep_id", t.sweep_id},
                       {"state", jobs::TrialStateName(t.state)},
                       {"worker", t.worker},
                       {"attempt", t.attempt},
                       {"step", t.step},
                       {"steps", t.steps},
                       {"loss", OrNull(t.loss)},
                       {"running_s", Seconds(now - t.started_ms)}});
  }
  std::sort(running.begin(), running.end(),
            [](const Json& a, const Json& b) { return a["trial_id"] < b["trial_id"]; });
  return {{"counts", CountsJson(totals)}, {"queued", std::move(queued)},
          {"running", std::move(running)}};
}

Json Coordinator::WorkersView() const {
  const int64_t now = clock_.NowMillis();
  Json list = Json::array();
  for (const auto& [id, w] : scheduler_.workers()) {
    // "trial", "attempt" and "step" are its first trial's; "trials" lists a pack's every one.
    Json held = Json::array();
    for (const std::string& trial_id : w.trials) {
      auto t = trials_.find(trial_id);
      held.push_back({{"trial_id", trial_id},
                      {"attempt", t != trials_.end() ? t->second.attempt : 0},
                      {"step", t != trials_.end() ? t->second.step : 0}});
    }
    const Json first = held.empty() ? Json{{"trial_id", ""}, {"attempt", 0}, {"step", 0}} : held[0];
    list.push_back({{"id", id},
                    {"rank", w.rank},
                    {"host", w.host},
                    {"device", w.device},
                    {"memory_bytes", w.memory_bytes},
                    {"state", w.trials.empty() ? "idle" : "busy"},
                    {"trial", first["trial_id"]},
                    {"attempt", first["attempt"]},
                    {"step", first["step"]},
                    {"trials", std::move(held)},
                    {"pack_limit", w.pack_limit},
                    {"tokens_per_s", w.tokens_per_s},
                    {"last_heartbeat_s", Seconds(now - w.last_seen_ms)},
                    {"connected_s", Seconds(now - w.connected_ms)}});
  }
  return {{"workers", std::move(list)}};
}

Json Coordinator::HealthView() const {
  const store::StoreHealth store = store_.Health();
  Json store_json = {{"writable", store.writable},
                     {"quarantined", store.quarantined},
                     {"skipped", store.skipped}};
  if (!store.writable) {
    store_json["error"] = store.error;
    store_json["since_ms"] = store.since_ms;
  }
  return {{"status", store.writable ? "ok" : "store_unwritable"},
          {"version", kVersion},
          {"uptime_s", Seconds(clock_.NowMillis() - started_ms_)},
          {"workers", scheduler_.workers().size()},
          {"queued", scheduler_.queued_count()},
          {"store", store_json}};
}

}  // namespace lf::coordinator
