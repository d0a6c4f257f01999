#include "coordinator/store/store_rules.h"

#include <set>

#include "common/ids.h"

namespace lf::store::rules {
namespace {

std::string Describe(jobs::TrialState s) { return std::string(jobs::TrialStateName(s)); }

}  // namespace

Status ValidateNewSweep(const SweepRecord& sweep, const std::vector<TrialRecord>& trials) {
  LF_RETURN_IF_ERROR(ValidateSweepId(sweep.id));
  if (sweep.trial_count != trials.size()) {
    return InvalidArgument("sweep " + sweep.id + " says it has " +
                           std::to_string(sweep.trial_count) + " trials but " +
                           std::to_string(trials.size()) + " were given");
  }
  std::set<uint32_t> indices;
  for (const TrialRecord& t : trials) {
    if (t.sweep_id != sweep.id || t.id != MakeTrialId(sweep.id, t.index)) {
      return InvalidArgument("trial '" + t.id + "' (index " + std::to_string(t.index) +
                             ") does not belong to sweep " + sweep.id + "; its id must be " +
                             MakeTrialId(sweep.id, t.index));
    }
    if (!indices.insert(t.index).second) {
      return InvalidArgument("sweep " + sweep.id + " has two trials with index " +
                             std::to_string(t.index));
    }
    if (t.state != jobs::TrialState::kQueued) {
      return InvalidArgument("trial " + t.id + " is " + Describe(t.state) +
                             "; a new trial starts queued");
    }
  }
  return Status::Ok();
}

Result<std::string> ApplyAddedTrials(const std::vector<TrialRecord>& trials, int64_t now_ms,
                                     SweepRecord* sweep) {
  if (sweep->state != jobs::SweepState::kActive && sweep->state != jobs::SweepState::kPaused) {
    return FailedPrecondition("sweep " + sweep->id + " is " +
                              std::string(jobs::SweepStateName(sweep->state)) +
                              "; trials are added to an active or paused sweep only");
  }
  if (trials.empty()) return InvalidArgument("no trials to add to sweep " + sweep->id);
  std::string detail;
  uint32_t next = sweep->trial_count;
  for (const TrialRecord& t : trials) {
    if (t.index != next || t.sweep_id != sweep->id || t.id != MakeTrialId(sweep->id, t.index)) {
      return InvalidArgument("trial '" + t.id + "' (index " + std::to_string(t.index) +
                             ") does not continue sweep " + sweep->id + ": the next is " +
                             MakeTrialId(sweep->id, next));
    }
    if (t.state != jobs::TrialState::kQueued) {
      return InvalidArgument("trial " + t.id + " is " + Describe(t.state) +
                             "; a new trial starts queued");
    }
    detail += (detail.empty() ? "" : ", ") + t.id;
    ++next;
  }
  sweep->trial_count = next;
  sweep->updated_ms = now_ms;
  ++sweep->version;
  return detail;
}

SweepRecord NewSweepRecord(const SweepRecord& sweep, int64_t now_ms) {
  SweepRecord s = sweep;
  s.created_ms = s.updated_ms = now_ms;
  s.version = 1;
  return s;
}

TrialRecord NewTrialRecord(const TrialRecord& trial, int64_t now_ms) {
  TrialRecord t = trial;
  t.attempt = 0;
  t.created_ms = t.updated_ms = now_ms;
  t.version = 1;
  return t;
}

std::string SweepCreatedDetail(const SweepRecord& sweep) {
  return "'" + sweep.name + "' with " + std::to_string(sweep.trial_count) + " trials";
}

Result<std::string> ApplySweepUpdate(const SweepUpdate& update, int64_t now_ms,
                                     SweepRecord* sweep) {
  if (update.expected_state && *update.expected_state != sweep->state) {
    return Conflict(
        "sweep " + sweep->id + " is " + std::string(jobs::SweepStateName(sweep->state)) + ", not " +
        std::string(jobs::SweepStateName(*update.expected_state)) + ": someone changed it first");
  }
  std::string detail;
  if (update.state) {
    LF_RETURN_IF_ERROR(
        jobs::CheckSweepTransition(sweep->state, *update.state).WithContext("sweep " + sweep->id));
    detail = std::string(jobs::SweepStateName(sweep->state)) + " -> " +
             std::string(jobs::SweepStateName(*update.state));
  }
  if (update.priority && *update.priority != sweep->priority) {
    if (!detail.empty()) detail += "; ";
    detail +=
        "priority " + std::to_string(sweep->priority) + " -> " + std::to_string(*update.priority);
  }
  if (detail.empty()) return detail;  // nothing to change
  if (update.state) sweep->state = *update.state;
  if (update.priority) sweep->priority = *update.priority;
  if (!update.reason.empty()) detail += ": " + update.reason;
  sweep->updated_ms = now_ms;
  ++sweep->version;
  return detail;
}

Status ApplyTransition(const TransitionRequest& r, int64_t now_ms, TrialRecord* trial) {
  if (trial->state != r.from) {
    return Conflict("trial " + trial->id + " is " + Describe(trial->state) + " (attempt " +
                    std::to_string(trial->attempt) + "), not " + Describe(r.from) +
                    ": another writer changed it first; re-read it before retrying");
  }
  if (r.expected_attempt && *r.expected_attempt != trial->attempt) {
    return Conflict("trial " + trial->id + " is at attempt " + std::to_string(trial->attempt) +
                    ", not " + std::to_string(*r.expected_attempt) +
                    ": the caller's lease is stale (the trial was handed out again)");
  }
  LF_RETURN_IF_ERROR(jobs::CheckTransition(r.from, r.to).WithContext("trial " + trial->id));
  if (r.to == jobs::TrialState::kAssigned && r.worker.empty()) {
    return InvalidArgument("assigning trial " + trial->id + " needs the worker that takes it");
  }
  if (r.result && !jobs::HasAdapter(r.to)) {
    return InvalidArgument("trial " + trial->id + ": a result goes with completed or stopped, not " +
                           std::string(jobs::TrialStateName(r.to)));
  }
  // Every check passed: from here on the record changes.
  TrialRecord& t = *trial;
  switch (r.to) {
    case jobs::TrialState::kAssigned:
      ++t.attempt;
      t.worker = r.worker;
      break;
    case jobs::TrialState::kRunning:
      t.started_ms = now_ms;
      break;
    case jobs::TrialState::kQueued:
      t.worker.clear();
      if (!r.reason.empty()) t.last_error = r.reason;
      break;
    case jobs::TrialState::kFailed:
      ++t.failures;
      t.last_error = r.reason;
      t.finished_ms = now_ms;
      break;
    case jobs::TrialState::kCompleted:
      t.last_error.clear();  // an error of an earlier attempt no longer describes the trial
      t.finished_ms = now_ms;
      break;
    case jobs::TrialState::kCancelled:
    case jobs::TrialState::kStopped:
      t.finished_ms = now_ms;
      break;
  }
  if (r.checkpoint) t.checkpoint = *r.checkpoint;
  if (r.result) t.result = r.result;
  t.state = r.to;
  t.updated_ms = now_ms;
  ++t.version;
  return Status::Ok();
}

std::string TransitionDetail(const TransitionRequest& r, const TrialRecord& after) {
  std::string detail = Describe(r.from) + " -> " + Describe(r.to) + " (attempt " +
                       std::to_string(after.attempt) + ")";
  if (r.to == jobs::TrialState::kAssigned) detail += " to " + after.worker;
  if (!r.reason.empty()) detail += ": " + r.reason;
  return detail;
}

Status ValidateMetricPoints(const std::string& trial_id, std::span<const MetricPoint> points) {
  for (const MetricPoint& p : points) {
    if (p.step < 0) {
      return InvalidArgument("metric '" + p.name + "' of trial " + trial_id + " has step " +
                             std::to_string(p.step) + "; steps start at 0");
    }
    if (p.name.empty() || p.name.size() > kMaxMetricNameBytes) {
      return InvalidArgument("metric names of trial " + trial_id +
                             " must be 1-200 bytes long; got '" + p.name.substr(0, 40) + "'");
    }
  }
  return Status::Ok();
}

std::string AdapterStoredDetail(const std::vector<AdapterFileInfo>& files) {
  std::string detail;
  for (const AdapterFileInfo& f : files) {
    if (!detail.empty()) detail += ", ";
    detail += f.name + " (" + std::to_string(f.size) + " bytes, sha256 " + f.sha256 + ")";
  }
  return detail;
}

std::string TagDetail(const TagRecord& tag, const std::string& moved_from) {
  return "tag " + tag.name +
         (moved_from.empty() || moved_from == tag.trial_id ? ""
                                                           : " (moved from " + moved_from + ")");
}

}  // namespace lf::store::rules
