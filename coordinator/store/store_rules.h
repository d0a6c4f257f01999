// The rules every ExperimentStore implementation applies, as pure functions over records: what a
// new sweep must satisfy, how a sweep update or a trial transition changes a record, what a metric
// point must satisfy, and the details of the audit events each write leaves. The RocksDB and the
// in-memory store both call these, so the two cannot drift. No I/O, no locking, no clock: callers
// pass the time and hold whatever lock makes read-check-write exact.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/store/experiment_store.h"

namespace lf::store::rules {

inline constexpr size_t kMaxMetricNameBytes = 200;  // the RocksDB layout stores a one-byte length

// CreateSweep's argument checks: a valid sweep id, trial_count matching the trials, each trial
// of this sweep (id == MakeTrialId(sweep, index)), no index twice, and every trial queued.
Status ValidateNewSweep(const SweepRecord& sweep, const std::vector<TrialRecord>& trials);
// The records CreateSweep stores: the caller's, stamped with the creation time and version 1
// (trials also start at attempt 0).
SweepRecord NewSweepRecord(const SweepRecord& sweep, int64_t now_ms);
TrialRecord NewTrialRecord(const TrialRecord& trial, int64_t now_ms);
std::string SweepCreatedDetail(const SweepRecord& sweep);  // "'name' with 3 trials"
// AddTrials' checks against the stored sweep (open; the trials its, queued, with the next
// indices in order), and what it becomes: trial_count grown, updated_ms, version. Returns the
// "sweep.trials_added" event's detail ("s-1/00003, s-1/00004").
Result<std::string> ApplyAddedTrials(const std::vector<TrialRecord>& trials, int64_t now_ms,
                                     SweepRecord* sweep);

// Checks `update` against *sweep (compare-and-set guard, sweep lifecycle) and applies it. Returns
// the "sweep.updated" event's detail, or "" when the update changes nothing (then *sweep is left
// exactly as it was and no event is due).
Result<std::string> ApplySweepUpdate(const SweepUpdate& update, int64_t now_ms, SweepRecord* sweep);

// Checks `request` against *trial (state, expected attempt, jobs::CheckTransition, worker given
// for an assignment) and applies it: attempt, failures, worker, last_error, started_ms,
// finished_ms, checkpoint, state, updated_ms, version. On error *trial is unchanged.
Status ApplyTransition(const TransitionRequest& request, int64_t now_ms, TrialRecord* trial);
// The "trial.transition" event's detail for a transition applied to `after`:
// "running -> failed (attempt 2): CUDA out of memory", "queued -> assigned (attempt 1) to w".
std::string TransitionDetail(const TransitionRequest& request, const TrialRecord& after);

// AppendMetrics' checks: steps >= 0, names 1-200 bytes.
Status ValidateMetricPoints(const std::string& trial_id, std::span<const MetricPoint> points);

// The "adapter.stored" event's detail for one or several files (one event per write):
// "adapter_model.safetensors (1000 bytes, sha256 ab12...)", joined with ", ".
std::string AdapterStoredDetail(const std::vector<AdapterFileInfo>& files);
// The "adapter.tagged" event's detail; `moved_from` is the trial the tag named before, if any.
std::string TagDetail(const TagRecord& tag, const std::string& moved_from);

}  // namespace lf::store::rules
