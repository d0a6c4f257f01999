// The RocksDB implementation of ExperimentStore (internal: only the factory and tests see it).
// Column families: meta, sweeps, trials, metrics, adapters (values in blob files), events.
// Locking: every write that reads before it writes (trial transitions, sweep updates, sweep
// creation, adapter and event writes) holds write_mu_, which makes compare-and-set exact and keeps
// event sequence numbers in commit order; metric appends only append and take no lock. Reads never
// lock. The implementation is split by aspect: rocksdb_store_open.cpp (open, schema, backup),
// rocksdb_store_trials.cpp (sweeps, trials, events), rocksdb_store_data.cpp (metrics, adapters),
// rocksdb_store_health.cpp (background errors, Resume, the quarantine of undecodable records).
// What a write checks and how it changes a record is in store_rules.h, shared with the in-memory
// store.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "coordinator/store/experiment_store.h"

namespace lf::store {

class RocksDbStore final : public ExperimentStore {
 public:
  // `file_system`: tests inject one that fails on demand (a full disk); nullptr: the default.
  static Result<std::unique_ptr<ExperimentStore>> Open(
      const StoreOptions& options, std::shared_ptr<rocksdb::FileSystem> file_system = nullptr);
  ~RocksDbStore() override;

  Status CreateSweep(const SweepRecord& sweep, const std::vector<TrialRecord>& trials,
                     const std::string& actor) override;
  Status AddTrials(const std::string& sweep_id, const std::vector<TrialRecord>& trials,
                   const std::string& actor) override;
  Result<SweepRecord> GetSweep(const std::string& sweep_id) const override;
  Result<std::vector<SweepRecord>> ListSweeps() const override;
  Result<SweepRecord> UpdateSweep(const std::string& sweep_id, const SweepUpdate& update) override;

  Result<TrialRecord> GetTrial(const std::string& trial_id) const override;
  Result<std::vector<TrialRecord>> ListTrials(const TrialFilter& filter) const override;
  Result<TrialRecord> TransitionTrial(const TransitionRequest& request) override;
  std::vector<Result<TrialRecord>> TransitionTrials(
      const std::vector<TransitionRequest>& requests) override;

  Status AppendMetrics(const std::string& trial_id, std::span<const MetricPoint> points) override;
  Result<std::vector<MetricPoint>> ReadMetrics(const std::string& trial_id,
                                               const MetricQuery& query) const override;

  Result<AdapterFileInfo> PutAdapterFile(const std::string& trial_id, const std::string& name,
                                         std::string_view bytes,
                                         const std::string& actor) override;
  Result<std::string> GetAdapterFile(const std::string& trial_id,
                                     const std::string& name) const override;
  Result<std::vector<AdapterFileInfo>> ListAdapterFiles(const std::string& trial_id) const override;

  Status SetTag(const TagRecord& tag) override;
  Result<std::vector<TagRecord>> ListTags() const override;

  Result<uint64_t> RecordEvent(const EventRecord& event) override;
  Result<std::vector<EventRecord>> ReadEvents(const EventQuery& query) const override;

  Status Backup(const std::string& target_dir) const override;
  Result<StoreInfo> Info() const override;
  uint64_t ApproximateBytes() const override;

  StoreHealth Health() const override;
  Status TryResume() override;
  Result<std::vector<QuarantinedRecord>> ListQuarantined() const override;

 private:
  // trial_configs holds each trial's configuration apart from its record: written once, it is
  // not rewritten (nor re-encoded) by every state change of the trial.
  enum Family {
    kMeta = 0, kSweeps, kTrials, kMetrics, kAdapters, kEvents, kTrialConfigs, kFamilyCount
  };
  static const char* FamilyName(Family f);

  // Whether writes go through, shared with the event listener RocksDB calls from its own threads.
  struct HealthState {
    std::mutex mu;
    bool writable = true;
    // RocksDB cannot resume from this error (a fatal one: e.g. a new WAL could not be created):
    // only reopening the store, i.e. restarting the coordinator, clears it.
    bool needs_restart = false;
    std::string error;
    int64_t since_ms = 0;
  };

  // Reports RocksDB's background errors and recoveries into `health` (and the log).
  static std::shared_ptr<rocksdb::EventListener> NewHealthListener(
      std::shared_ptr<HealthState> health, const StoreOptions& options);

  // RocksDB's log lines into the process log (none into a LOG file on the store's disk).
  static std::shared_ptr<rocksdb::Logger> NewLogger(const std::string& path);

  RocksDbStore(const StoreOptions& options, std::shared_ptr<rocksdb::FileSystem> file_system);
  rocksdb::DBOptions DbOptions() const;
  Status OpenDb();
  Status CreateStore() const;
  Status RecoverEventSequence();
  // Stores written before trial records carried their result: reads it from each completed or
  // stopped trial's result.json (kept among its adapter files) into the record, once.
  Status BackfillResults();
  // Moves every sweep and trial record that does not decode to the quarantine (meta family,
  // "quarantine/<family>/<key>"), logging each: one damaged record must not stop the start-up.
  Status QuarantineUndecodable();
  // A metric row or event that a read skipped because it does not decode: logged and counted.
  void NoteSkipped(std::string_view family, std::string_view key, const Status& error) const;

  rocksdb::ColumnFamilyHandle* cf(Family f) const { return handles_[f]; }
  // Refuses writes to a read-only store and, while writes are stopped (HealthState), to any.
  Status CheckWritable() const;
  // Converts a RocksDB status into ours, naming the operation and the store's path.
  Status FromRocks(const rocksdb::Status& s, const std::string& what) const;
  Result<std::optional<std::string>> GetRaw(Family f, const std::string& key) const;
  Status AttachConfig(TrialRecord* trial) const;
  // Under write_mu_: adds an event to `batch` with sequence number *next_seq and advances it.
  // The caller publishes *next_seq to next_event_seq_ only once the batch committed, so a failed
  // write leaves no gap in the log.
  void AddEvent(rocksdb::WriteBatch* batch, EventRecord event, uint64_t* next_seq) const;
  // Puts new trials (stamped by rules::NewTrialRecord) and their configs: CreateSweep, AddTrials.
  void PutNewTrials(rocksdb::WriteBatch* batch, const std::vector<TrialRecord>& trials,
                    int64_t now_ms) const;
  Status CommitDurably(rocksdb::WriteBatch* batch, const std::string& what);

  StoreOptions options_;
  std::shared_ptr<rocksdb::FileSystem> file_system_;  // injected by tests; null: the default
  std::unique_ptr<rocksdb::Env> env_;                 // over file_system_; outlives db_
  std::shared_ptr<HealthState> health_ = std::make_shared<HealthState>();
  std::shared_ptr<rocksdb::EventListener> listener_;  // updates health_
  std::shared_ptr<rocksdb::Logger> logger_;
  std::atomic<uint64_t> quarantined_{0};
  mutable std::atomic<uint64_t> skipped_{0};
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;        // indexed by Family
  std::vector<rocksdb::ColumnFamilyHandle*> extra_handles_;  // families a newer version added
  std::mutex write_mu_;
  uint64_t next_event_seq_ = 1;  // guarded by write_mu_
};

}  // namespace lf::store
