// The RocksDB implementation of ExperimentStore (internal: only the factory and tests see it).
// Column families: meta, sweeps, trials, metrics, adapters (values in blob files), events.
// Locking: every write that reads before it writes (trial transitions, sweep updates, sweep
// creation, adapter and event writes) holds write_mu_, which makes compare-and-set exact and keeps
// event sequence numbers in commit order; metric appends only append and take no lock. Reads never
// lock. The implementation is split by aspect: rocksdb_store_open.cpp (open, schema, backup),
// rocksdb_store_trials.cpp (sweeps, trials, events), rocksdb_store_data.cpp (metrics, adapters).
// What a write checks and how it changes a record is in store_rules.h, shared with the in-memory
// store.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "coordinator/store/experiment_store.h"

namespace lf::store {

class RocksDbStore final : public ExperimentStore {
 public:
  static Result<std::unique_ptr<ExperimentStore>> Open(const StoreOptions& options);
  ~RocksDbStore() override;

  Status CreateSweep(const SweepRecord& sweep, const std::vector<TrialRecord>& trials,
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

 private:
  // trial_configs holds each trial's configuration apart from its record: written once, it is
  // not rewritten (nor re-encoded) by every state change of the trial.
  enum Family {
    kMeta = 0, kSweeps, kTrials, kMetrics, kAdapters, kEvents, kTrialConfigs, kFamilyCount
  };
  static const char* FamilyName(Family f);

  explicit RocksDbStore(const StoreOptions& options);
  Status OpenDb();
  Status CreateStore() const;
  Status RecoverEventSequence();
  // Stores written before trial records carried their result: reads it from each completed or
  // stopped trial's result.json (kept among its adapter files) into the record, once.
  Status BackfillResults();

  rocksdb::ColumnFamilyHandle* cf(Family f) const { return handles_[f]; }
  Status CheckWritable() const;
  // Converts a RocksDB status into ours, naming the operation and the store's path.
  Status FromRocks(const rocksdb::Status& s, const std::string& what) const;
  Result<std::optional<std::string>> GetRaw(Family f, const std::string& key) const;
  Status AttachConfig(TrialRecord* trial) const;
  // Under write_mu_: adds an event to `batch` with sequence number *next_seq and advances it.
  // The caller publishes *next_seq to next_event_seq_ only once the batch committed, so a failed
  // write leaves no gap in the log.
  void AddEvent(rocksdb::WriteBatch* batch, EventRecord event, uint64_t* next_seq) const;
  Status CommitDurably(rocksdb::WriteBatch* batch, const std::string& what);

  StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;        // indexed by Family
  std::vector<rocksdb::ColumnFamilyHandle*> extra_handles_;  // families a newer version added
  std::mutex write_mu_;
  uint64_t next_event_seq_ = 1;  // guarded by write_mu_
};

}  // namespace lf::store
