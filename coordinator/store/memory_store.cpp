// The in-memory ExperimentStore: ordered maps in place of RocksDB's column families, so lists come
// out in the same order (sweeps and trials by id, metrics by (step, name), events by seq, tags by
// name). Checks and record changes come from store_rules.h, as in the RocksDB store.
#include "coordinator/store/memory_store.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <utility>

#include "common/sha256.h"
#include "common/version.h"
#include "coordinator/store/store_codec.h"
#include "coordinator/store/store_rules.h"

namespace lf::store {
namespace {

bool HasPrefix(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

struct StoredAdapter {
  AdapterFileInfo info;
  std::string bytes;
};

// ApproximateBytes' estimate: a record's struct plus its large strings; container overhead and
// small strings are left out.
uint64_t Footprint(const SweepRecord& s) {
  return sizeof(s) + s.id.size() + s.name.size() + s.spec.size() + s.resolved.size();
}
uint64_t Footprint(const TrialRecord& t) { return sizeof(t) + t.id.size() + t.config.size(); }
uint64_t Footprint(const EventRecord& e) { return sizeof(e) + e.actor.size() + e.detail.size(); }
uint64_t Footprint(const StoredAdapter& a) {
  return sizeof(a) + a.info.name.size() + a.bytes.size();
}
uint64_t Footprint(const MetricPoint& p) { return sizeof(p) + p.name.size(); }
uint64_t Footprint(const TagRecord& t) { return sizeof(t) + t.name.size() + t.trial_id.size(); }

class MemoryStore final : public ExperimentStore {
 public:
  explicit MemoryStore(const Clock* clock) : clock_(clock) {}

  Status CreateSweep(const SweepRecord& sweep, const std::vector<TrialRecord>& trials,
                     const std::string& actor) override {
    LF_RETURN_IF_ERROR(rules::ValidateNewSweep(sweep, trials));
    std::lock_guard lock(mu_);
    if (sweeps_.contains(sweep.id)) return AlreadyExists("sweep " + sweep.id + " already exists");
    // Trial ids start with the sweep id: the first id at or after it shows any trial left there.
    if (auto it = trials_.lower_bound(sweep.id);
        it != trials_.end() && HasPrefix(it->first, sweep.id)) {
      return AlreadyExists("trial " + it->first + " already exists");
    }
    const int64_t now = clock_->NowMillis();
    const SweepRecord s = rules::NewSweepRecord(sweep, now);
    bytes_ += Footprint(s);
    InsertNewTrials(trials, now);
    sweeps_.emplace(s.id, s);
    AddEvent({.actor = actor,
              .kind = "sweep.created",
              .sweep_id = s.id,
              .detail = rules::SweepCreatedDetail(s)});
    return Status::Ok();
  }

  Status AddTrials(const std::string& sweep_id, const std::vector<TrialRecord>& trials,
                   const std::string& actor) override {
    std::lock_guard lock(mu_);
    auto it = sweeps_.find(sweep_id);
    if (it == sweeps_.end()) return NotFound("no sweep with id " + sweep_id);
    SweepRecord s = it->second;
    const int64_t now = clock_->NowMillis();
    LF_ASSIGN_OR_RETURN(std::string detail, rules::ApplyAddedTrials(trials, now, &s));
    InsertNewTrials(trials, now);
    it->second = s;
    AddEvent({.actor = actor, .kind = "sweep.trials_added", .sweep_id = s.id, .detail = detail});
    return Status::Ok();
  }

  Result<SweepRecord> GetSweep(const std::string& sweep_id) const override {
    std::lock_guard lock(mu_);
    auto it = sweeps_.find(sweep_id);
    if (it == sweeps_.end()) return NotFound("no sweep with id " + sweep_id);
    return it->second;
  }

  Result<std::vector<SweepRecord>> ListSweeps() const override {
    std::lock_guard lock(mu_);
    std::vector<SweepRecord> out;
    out.reserve(sweeps_.size());
    for (const auto& [id, s] : sweeps_) out.push_back(s);
    return out;
  }

  Result<SweepRecord> UpdateSweep(const std::string& sweep_id, const SweepUpdate& update) override {
    std::lock_guard lock(mu_);
    auto it = sweeps_.find(sweep_id);
    if (it == sweeps_.end()) return NotFound("no sweep with id " + sweep_id);
    SweepRecord s = it->second;
    LF_ASSIGN_OR_RETURN(std::string detail,
                        rules::ApplySweepUpdate(update, clock_->NowMillis(), &s));
    if (detail.empty()) return s;  // nothing to change
    it->second = s;
    AddEvent({.actor = update.actor,
              .kind = "sweep.updated",
              .sweep_id = s.id,
              .detail = std::move(detail)});
    return s;
  }

  Result<TrialRecord> GetTrial(const std::string& trial_id) const override {
    std::lock_guard lock(mu_);
    auto it = trials_.find(trial_id);
    if (it == trials_.end()) return NotFound("no trial with id " + trial_id);
    return it->second;
  }

  Result<std::vector<TrialRecord>> ListTrials(const TrialFilter& filter) const override {
    std::lock_guard lock(mu_);
    std::vector<TrialRecord> out;
    const std::string prefix = filter.sweep_id.value_or("");
    for (auto it = trials_.lower_bound(prefix); it != trials_.end() && HasPrefix(it->first, prefix);
         ++it) {
      const TrialRecord& t = it->second;
      if (!filter.states.empty() &&
          std::find(filter.states.begin(), filter.states.end(), t.state) == filter.states.end()) {
        continue;
      }
      out.push_back(t);
    }
    return out;
  }

  Result<TrialRecord> TransitionTrial(const TransitionRequest& request) override {
    std::vector<Result<TrialRecord>> results = TransitionTrials({request});
    return std::move(results[0]);
  }

  std::vector<Result<TrialRecord>> TransitionTrials(
      const std::vector<TransitionRequest>& requests) override {
    // Adapter files are checked, hashed and copied before taking the lock, as in the RocksDB
    // store: they can be hundreds of MB.
    const int64_t stored_ms = clock_->NowMillis();
    std::vector<std::vector<StoredAdapter>> files(requests.size());
    std::vector<Status> file_errors(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      for (const auto& file : requests[i].files) {
        file_errors[i] = codec::ValidateAdapterName(requests[i].trial_id, file.name);
        if (!file_errors[i].ok()) break;
        files[i].push_back(Prepare(requests[i].trial_id, file.name, file.bytes, stored_ms));
      }
    }
    std::vector<Result<TrialRecord>> results;
    results.reserve(requests.size());
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < requests.size(); ++i) {
      const TransitionRequest& r = requests[i];
      if (!file_errors[i].ok()) {
        results.emplace_back(file_errors[i]);
        continue;
      }
      auto it = trials_.find(r.trial_id);
      if (it == trials_.end()) {
        results.emplace_back(NotFound("no trial with id " + r.trial_id));
        continue;
      }
      // Applied in place: ApplyTransition leaves the record untouched when it refuses, and
      // nothing after it can fail, so each request sees the effect of those before it.
      TrialRecord& trial = it->second;
      if (Status st = rules::ApplyTransition(r, clock_->NowMillis(), &trial); !st.ok()) {
        results.emplace_back(st);
        continue;
      }
      AddEvent({.actor = r.actor,
                .kind = "trial.transition",
                .sweep_id = trial.sweep_id,
                .trial_id = trial.id,
                .detail = rules::TransitionDetail(r, trial)});
      if (!files[i].empty()) {
        std::vector<AdapterFileInfo> stored;
        for (StoredAdapter& file : files[i]) {
          stored.push_back(file.info);
          PutAdapterLocked(std::move(file));
        }
        AddEvent({.actor = r.actor,
                  .kind = "adapter.stored",
                  .sweep_id = trial.sweep_id,
                  .trial_id = trial.id,
                  .detail = rules::AdapterStoredDetail(stored)});
      }
      results.emplace_back(trial);
    }
    return results;
  }

  Status AppendMetrics(const std::string& trial_id, std::span<const MetricPoint> points) override {
    if (points.empty()) return Status::Ok();
    LF_RETURN_IF_ERROR(rules::ValidateMetricPoints(trial_id, points));
    const int64_t now = clock_->NowMillis();
    std::lock_guard lock(mu_);
    if (!trials_.contains(trial_id)) return NotFound("metrics for unknown trial " + trial_id);
    auto& series = metrics_[trial_id];
    for (const MetricPoint& p : points) {  // in order: a (step, name) given twice, the later wins
      MetricPoint stored = p;
      if (stored.time_ms == 0) stored.time_ms = now;
      auto [it, inserted] = series.insert_or_assign({p.step, p.name}, std::move(stored));
      if (inserted) bytes_ += Footprint(it->second);
    }
    return Status::Ok();
  }

  Result<std::vector<MetricPoint>> ReadMetrics(const std::string& trial_id,
                                               const MetricQuery& query) const override {
    std::vector<MetricPoint> out;
    if (query.from_step > query.to_step || query.to_step < 0) return out;
    std::lock_guard lock(mu_);
    auto series = metrics_.find(trial_id);
    if (series == metrics_.end()) return out;
    for (auto it = series->second.lower_bound({std::max<int64_t>(0, query.from_step), ""});
         it != series->second.end() && it->first.first <= query.to_step && out.size() < query.limit;
         ++it) {
      if (query.name && it->second.name != *query.name) continue;
      out.push_back(it->second);
    }
    return out;
  }

  Result<AdapterFileInfo> PutAdapterFile(const std::string& trial_id, const std::string& name,
                                         std::string_view bytes,
                                         const std::string& actor) override {
    LF_RETURN_IF_ERROR(codec::ValidateAdapterName(trial_id, name));
    StoredAdapter file = Prepare(trial_id, name, bytes, clock_->NowMillis());
    const AdapterFileInfo info = file.info;
    std::lock_guard lock(mu_);
    auto trial = trials_.find(trial_id);
    if (trial == trials_.end()) {
      return NotFound("cannot store adapter file for unknown trial " + trial_id);
    }
    PutAdapterLocked(std::move(file));
    AddEvent({.actor = actor,
              .kind = "adapter.stored",
              .sweep_id = trial->second.sweep_id,
              .trial_id = trial_id,
              .detail = rules::AdapterStoredDetail({info})});
    return info;
  }

  // The sha256 was taken when the bytes were stored; memory that cannot rot is not re-hashed.
  Result<std::string> GetAdapterFile(const std::string& trial_id,
                                     const std::string& name) const override {
    std::lock_guard lock(mu_);
    if (auto files = adapters_.find(trial_id); files != adapters_.end()) {
      if (auto it = files->second.find(name); it != files->second.end()) return it->second.bytes;
    }
    return NotFound("trial " + trial_id + " has no adapter file '" + name + "'");
  }

  Result<std::vector<AdapterFileInfo>> ListAdapterFiles(
      const std::string& trial_id) const override {
    std::lock_guard lock(mu_);
    std::vector<AdapterFileInfo> out;
    if (auto files = adapters_.find(trial_id); files != adapters_.end()) {
      for (const auto& [name, file] : files->second) out.push_back(file.info);
    }
    return out;
  }

  Status SetTag(const TagRecord& tag) override {
    if (tag.name.empty()) return InvalidArgument("a tag needs a name");
    std::lock_guard lock(mu_);
    if (!trials_.contains(tag.trial_id)) {
      return NotFound("no trial with id '" + tag.trial_id + "'");
    }
    TagRecord stored = tag;
    if (stored.time_ms == 0) stored.time_ms = clock_->NowMillis();
    std::string moved;
    if (auto before = tags_.find(tag.name); before != tags_.end()) {
      moved = before->second.trial_id;
    } else {
      bytes_ += Footprint(stored);
    }
    AddEvent({.time_ms = stored.time_ms,
              .actor = tag.actor,
              .kind = "adapter.tagged",
              .trial_id = tag.trial_id,
              .detail = rules::TagDetail(tag, moved)});
    tags_.insert_or_assign(tag.name, std::move(stored));
    return Status::Ok();
  }

  Result<std::vector<TagRecord>> ListTags() const override {
    std::lock_guard lock(mu_);
    std::vector<TagRecord> out;
    out.reserve(tags_.size());
    for (const auto& [name, tag] : tags_) out.push_back(tag);
    return out;
  }

  Result<uint64_t> RecordEvent(const EventRecord& event) override {
    if (event.kind.empty()) return InvalidArgument("an event needs a kind (e.g. \"worker.lost\")");
    std::lock_guard lock(mu_);
    return AddEvent(event);
  }

  Result<std::vector<EventRecord>> ReadEvents(const EventQuery& query) const override {
    std::lock_guard lock(mu_);
    std::vector<EventRecord> out;
    auto take = [&](uint64_t seq) { out.push_back(events_[seq - 1]); };
    if (query.trial_id) {
      auto index = trial_events_.find(*query.trial_id);
      if (index == trial_events_.end()) return out;
      const std::vector<uint64_t>& seqs = index->second;
      for (auto it = std::upper_bound(seqs.begin(), seqs.end(), query.after_seq);
           it != seqs.end() && out.size() < query.limit; ++it) {
        take(*it);
      }
    } else {
      for (uint64_t seq = query.after_seq + 1; seq <= events_.size() && out.size() < query.limit;
           ++seq) {
        take(seq);
      }
    }
    return out;
  }

  Status Backup(const std::string& target_dir) const override {
    return Unimplemented("cannot back up to " + target_dir +
                         ": this experiment store lives in memory and has no files; only a "
                         "RocksDB store (OpenRocksDbStore) can be backed up");
  }

  Result<StoreInfo> Info() const override {
    std::lock_guard lock(mu_);
    return StoreInfo{.path = "(in memory)",
                     .schema_version = kSchemaVersion,
                     .created_by = kVersion,
                     .read_only = false,
                     .sweeps = sweeps_.size(),
                     .trials = trials_.size(),
                     .last_event_seq = events_.size(),
                     .approximate_bytes = bytes_};
  }

  uint64_t ApproximateBytes() const override { return bytes_; }

  // Nothing here fails on its own: always writable, nothing ever quarantined. Coordinator tests
  // that need a failing store wrap this one.
  StoreHealth Health() const override { return {}; }
  Status TryResume() override { return Status::Ok(); }
  Result<std::vector<QuarantinedRecord>> ListQuarantined() const override {
    return std::vector<QuarantinedRecord>();
  }

 private:
  // Under mu_: the trials CreateSweep and AddTrials store, stamped by rules::NewTrialRecord.
  void InsertNewTrials(const std::vector<TrialRecord>& trials, int64_t now_ms) {
    for (const TrialRecord& trial : trials) {
      TrialRecord t = rules::NewTrialRecord(trial, now_ms);
      bytes_ += Footprint(t);
      trials_.emplace(t.id, std::move(t));
    }
  }

  static StoredAdapter Prepare(const std::string& trial_id, const std::string& name,
                               std::string_view bytes, int64_t stored_ms) {
    return {.info = {.trial_id = trial_id,
                     .name = name,
                     .size = bytes.size(),
                     .sha256 = Sha256Hex(bytes),
                     .stored_ms = stored_ms},
            .bytes = std::string(bytes)};
  }

  // Under mu_: replaces a file of the same name.
  void PutAdapterLocked(StoredAdapter file) {
    auto& files = adapters_[file.info.trial_id];
    if (auto old = files.find(file.info.name); old != files.end()) {
      bytes_ -= Footprint(old->second);
    }
    bytes_ += Footprint(file);
    std::string name = file.info.name;
    files.insert_or_assign(std::move(name), std::move(file));
  }

  // Under mu_: appends with the next sequence number and indexes it by trial.
  uint64_t AddEvent(EventRecord event) {
    event.seq = events_.size() + 1;
    if (event.time_ms == 0) event.time_ms = clock_->NowMillis();
    if (!event.trial_id.empty()) trial_events_[event.trial_id].push_back(event.seq);
    bytes_ += Footprint(event);
    events_.push_back(std::move(event));
    return events_.size();
  }

  const Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, SweepRecord> sweeps_;
  std::map<std::string, TrialRecord> trials_;
  // trial id -> (step, name) -> point
  std::map<std::string, std::map<std::pair<int64_t, std::string>, MetricPoint>> metrics_;
  std::map<std::string, std::map<std::string, StoredAdapter>> adapters_;  // trial id -> file name
  std::map<std::string, TagRecord> tags_;
  std::vector<EventRecord> events_;                            // events_[i].seq == i + 1
  std::map<std::string, std::vector<uint64_t>> trial_events_;  // trial id -> its seqs, ascending
  // Written under mu_; atomic so ApproximateBytes (every /metrics scrape) takes no lock.
  std::atomic<uint64_t> bytes_{0};
};

}  // namespace

std::unique_ptr<ExperimentStore> NewMemoryStore(const Clock* clock) {
  LF_CHECK(clock != nullptr);
  return std::make_unique<MemoryStore>(clock);
}

}  // namespace lf::store
