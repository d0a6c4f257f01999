// The experiment store: the durable record of sweeps, trials and their state, metrics, adapters
// and an audit log of who changed what. The coordinator owns the only writable instance; all of
// its state is recovered from here after a restart. Implementations are thread-safe: any number
// of threads may call any method. Trial state changes are compare-and-set transitions checked
// against jobs::IsLegalTransition, and are durable (WAL synced) once a call returns ok.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "jobs/trial_result.h"
#include "jobs/trial_state.h"

namespace lf::store {

// A store written by a newer lorafleet (a higher schema version) is refused, not guessed at.
inline constexpr int kSchemaVersion = 1;

struct SweepRecord {
  std::string id;       // from lf::IdGenerator; sortable by creation time
  std::string name;     // a label users give; need not be unique
  std::string owner;    // who submitted it
  std::string spec;     // the sweep document as submitted (YAML or JSON text), kept verbatim
  std::string resolved; // JSON: the validated, expanded form the scheduler works from
  jobs::SweepState state = jobs::SweepState::kActive;
  int32_t priority = 0;  // higher runs first
  uint32_t trial_count = 0;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  uint64_t version = 0;  // incremented by every write of this record
};

struct TrialRecord {
  std::string id;        // MakeTrialId(sweep_id, index)
  std::string sweep_id;
  uint32_t index = 0;
  std::string config;    // JSON: this trial's resolved job configuration
  jobs::TrialState state = jobs::TrialState::kQueued;
  uint32_t attempt = 0;  // incremented each time the trial is assigned to a worker
  uint32_t failures = 0; // transitions to failed: what the retry budget counts
  std::string worker;    // the worker that holds it while assigned or running
  std::string last_error;
  std::string checkpoint;  // the last checkpoint reported, to resume from
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t started_ms = 0;   // when it last became running
  int64_t finished_ms = 0;  // when it last reached completed, failed, cancelled or stopped
  uint64_t version = 0;     // incremented by every write of this record
  // What the trial produced, as the worker reported it (its result.json is also kept among the
  // adapter files): set with the transition to completed or stopped, so only a trial for which
  // jobs::HasAdapter(state) has one. Views read it here rather than parsing the file.
  std::optional<jobs::TrialResult> result;
};

// One compare-and-set state change. It applies only if the trial is in `from` (and, when given,
// at `expected_attempt`): a stale writer, e.g. a worker whose lease was revoked and handed to
// another worker, gets kConflict and changes nothing.
struct TransitionRequest {
  std::string trial_id;
  jobs::TrialState from = jobs::TrialState::kQueued;
  jobs::TrialState to = jobs::TrialState::kQueued;
  std::optional<uint32_t> expected_attempt;
  std::string actor;   // who asks: "scheduler", "worker:host-a/3", "user:alice"
  std::string worker;  // required when to == assigned: the worker taking the trial
  std::string reason;  // free text kept in the audit log; for failed, the error
  std::optional<std::string> checkpoint;  // record a checkpoint with the change
  // The trial's result, stored with a change to completed or stopped; refused with any other
  // (kInvalidArgument): only a trial with an adapter has a result.
  std::optional<jobs::TrialResult> result;
  // Adapter files stored in the same atomic batch as the change, so a trial is never completed
  // without its adapter nor has an adapter it did not complete with. The bytes must stay valid
  // for the duration of the call.
  struct File {
    std::string name;
    std::string_view bytes;
  };
  std::vector<File> files;
};

struct SweepUpdate {
  std::optional<jobs::SweepState> expected_state;  // compare-and-set guard
  std::optional<jobs::SweepState> state;
  std::optional<int32_t> priority;
  std::string actor;
  std::string reason;
};

// A training metric at one step ("loss", "eval_loss", "lr", "tokens_per_s", ...). Points of one
// trial are kept ordered by (step, name); writing the same (step, name) again replaces the value,
// which is what a trial resumed from a checkpoint needs when it replays steps.
struct MetricPoint {
  int64_t step = 0;  // >= 0
  std::string name;
  double value = 0;
  int64_t time_ms = 0;
};

struct MetricQuery {
  int64_t from_step = 0;                              // inclusive
  int64_t to_step = INT64_MAX;                        // inclusive
  std::optional<std::string> name;                    // only this metric
  size_t limit = SIZE_MAX;
};

struct AdapterFileInfo {
  std::string trial_id;
  std::string name;  // e.g. "adapter_model.safetensors"
  uint64_t size = 0;
  std::string sha256;  // hex
  int64_t stored_ms = 0;
};

// An entry of the append-only audit log. Sequence numbers start at 1 and increase by one per
// event, in commit order.
struct EventRecord {
  uint64_t seq = 0;
  int64_t time_ms = 0;
  std::string actor;
  std::string kind;      // "sweep.created", "sweep.updated", "trial.transition", "adapter.stored", ...
  std::string sweep_id;  // may be empty
  std::string trial_id;  // may be empty
  std::string detail;    // human-readable: "running -> failed (attempt 2): CUDA out of memory"
};

struct EventQuery {
  uint64_t after_seq = 0;           // events with seq > after_seq
  std::optional<std::string> trial_id;  // only this trial's events (uses an index)
  size_t limit = 1000;
};

// A name a user gives one trial's adapter ("medical-prod"). A name names one adapter at a time:
// giving it to another trial moves it; a trial may carry several names.
struct TagRecord {
  std::string name;
  std::string trial_id;
  std::string actor;
  int64_t time_ms = 0;  // when it was last set
};

struct TrialFilter {
  std::optional<std::string> sweep_id;
  std::vector<jobs::TrialState> states;  // empty: any state
};

struct StoreInfo {
  std::string path;
  int schema_version = 0;
  std::string created_by;  // lorafleet version that created the store
  bool read_only = false;
  uint64_t sweeps = 0;             // exact counts
  uint64_t trials = 0;
  uint64_t last_event_seq = 0;
  uint64_t approximate_bytes = 0;  // SST, blob and WAL files on disk
  uint64_t quarantined = 0;        // records moved to the quarantine (QuarantinedRecord)
};

// Whether the store takes writes. A store stops taking them after an error it cannot write past
// (RocksDB's background error: a full disk during a flush, a compaction or a WAL write); until
// TryResume succeeds every write is refused with kUnavailable naming that error, and reads go on.
struct StoreHealth {
  bool writable = true;
  std::string error;     // why not, and what to do; empty while writable
  int64_t since_ms = 0;  // when writes stopped; 0 while writable
  uint64_t quarantined = 0;  // records moved to the quarantine when the store was opened
  uint64_t skipped = 0;      // metric rows and events that reads skipped since (do not decode)
};

// A record that did not decode when the store was opened, moved aside so that the rest opens: the
// family and key it was under, its bytes as they were, and the decode error.
struct QuarantinedRecord {
  std::string family;  // "sweeps", "trials"
  std::string key;
  std::string bytes;
  std::string error;
  int64_t time_ms = 0;  // when it was moved
};

class ExperimentStore {
 public:
  virtual ~ExperimentStore() = default;

  // Writes the sweep and all its trials in one atomic, durable batch: all or nothing.
  // kAlreadyExists if the sweep id or any trial id is taken; kInvalidArgument if a trial does not
  // belong to the sweep, or trial_count disagrees with the trials given.
  virtual Status CreateSweep(const SweepRecord& sweep, const std::vector<TrialRecord>& trials,
                             const std::string& actor) = 0;
  // Adds trials to an open (active or paused) sweep as it runs (search: tpe, bohb and pbt make
  // them one at a time): indices trial_count, trial_count + 1, ..., each queued; the sweep's
  // trial_count grows with them and a "sweep.trials_added" event names them, all in one atomic,
  // durable batch. kNotFound for no such sweep, kFailedPrecondition for a finished or cancelled
  // one, kInvalidArgument for trials that do not continue the sweep.
  virtual Status AddTrials(const std::string& sweep_id, const std::vector<TrialRecord>& trials,
                           const std::string& actor) = 0;
  virtual Result<SweepRecord> GetSweep(const std::string& sweep_id) const = 0;
  virtual Result<std::vector<SweepRecord>> ListSweeps() const = 0;  // oldest first
  // Pause, resume, cancel, finish, change priority: checked against the sweep lifecycle.
  virtual Result<SweepRecord> UpdateSweep(const std::string& sweep_id,
                                          const SweepUpdate& update) = 0;

  virtual Result<TrialRecord> GetTrial(const std::string& trial_id) const = 0;
  // Ordered by trial id (so by sweep, then index).
  virtual Result<std::vector<TrialRecord>> ListTrials(const TrialFilter& filter) const = 0;

  // kConflict when the trial is not in request.from (or not at expected_attempt);
  // kFailedPrecondition when from -> to is not a legal transition; kNotFound for unknown ids.
  virtual Result<TrialRecord> TransitionTrial(const TransitionRequest& request) = 0;
  // Checks each request on its own and commits all that pass in one durable batch (one fsync).
  // Results are in request order. Several requests for the same trial apply in order.
  virtual std::vector<Result<TrialRecord>> TransitionTrials(
      const std::vector<TransitionRequest>& requests) = 0;

  // Appends in one batch. kNotFound for an unknown trial; kInvalidArgument for a negative step,
  // an empty name or a name longer than 200 bytes. Durability: see StoreOptions::sync_metrics.
  virtual Status AppendMetrics(const std::string& trial_id,
                               std::span<const MetricPoint> points) = 0;
  virtual Result<std::vector<MetricPoint>> ReadMetrics(const std::string& trial_id,
                                                       const MetricQuery& query) const = 0;

  // Stores one file of a trial's adapter with its sha256; replaces a file of the same name.
  virtual Result<AdapterFileInfo> PutAdapterFile(const std::string& trial_id,
                                                 const std::string& name, std::string_view bytes,
                                                 const std::string& actor) = 0;
  // Verifies the sha256 on every read: a corrupt value is kDataLoss, never returned.
  virtual Result<std::string> GetAdapterFile(const std::string& trial_id,
                                             const std::string& name) const = 0;
  virtual Result<std::vector<AdapterFileInfo>> ListAdapterFiles(
      const std::string& trial_id) const = 0;

  // Appends an event that no other write produces (e.g. "worker.lost"); seq is assigned.
  // Points tag.name at tag.trial_id (moving it from the trial it named before) and records an
  // "adapter.tagged" event, in one durable batch. The trial must exist.
  virtual Status SetTag(const TagRecord& tag) = 0;
  virtual Result<std::vector<TagRecord>> ListTags() const = 0;  // by name

  virtual Result<uint64_t> RecordEvent(const EventRecord& event) = 0;
  virtual Result<std::vector<EventRecord>> ReadEvents(const EventQuery& query) const = 0;

  // A consistent online snapshot into a new directory (RocksDB checkpoint: hard links where
  // possible). The directory must not exist. The copy opens like any store.
  virtual Status Backup(const std::string& target_dir) const = 0;
  virtual Result<StoreInfo> Info() const = 0;  // counts every record: for tools, not hot paths
  // StoreInfo::approximate_bytes alone, without counting records (cheap: for /metrics).
  virtual uint64_t ApproximateBytes() const = 0;

  // Cheap (no I/O): for /v1/health, /metrics and the coordinator's tick.
  virtual StoreHealth Health() const = 0;
  // After writes stopped (Health().writable is false): tries to take writes again (RocksDB's
  // Resume: the memtables are flushed and a new WAL started, which needs the disk to have room
  // again). Ok when the store is writable afterwards; otherwise the error that still stops it.
  // Nothing acknowledged before the error is lost either way.
  virtual Status TryResume() = 0;
  virtual Result<std::vector<QuarantinedRecord>> ListQuarantined() const = 0;
};

struct StoreOptions {
  std::string path;
  // Inspection while the daemon runs: a point-in-time view taken at open; every write fails.
  bool read_only = false;
  bool create_if_missing = true;
  // Metrics always survive a crash of the process. With sync_metrics they also survive a crash
  // of the machine at the cost of an fsync per batch; without it, a power loss can drop the
  // metrics written since the last synced write (any state change syncs everything before it).
  bool sync_metrics = false;
  const Clock* clock = &SystemClock();
};

Result<std::unique_ptr<ExperimentStore>> OpenRocksDbStore(const StoreOptions& options);

}  // namespace lf::store
