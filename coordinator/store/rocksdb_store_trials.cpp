// Sweeps, trials, their compare-and-set state transitions, and the audit log.
#include <algorithm>
#include <map>

#include "common/logging.h"
#include "coordinator/store/rocksdb_store.h"
#include "coordinator/store/store_codec.h"
#include "coordinator/store/store_rules.h"

namespace lf::store {
namespace {

bool HasPrefix(const rocksdb::Slice& key, std::string_view prefix) {
  return key.size() >= prefix.size() && key.ToStringView().substr(0, prefix.size()) == prefix;
}

}  // namespace

void RocksDbStore::AddEvent(rocksdb::WriteBatch* batch, EventRecord event,
                            uint64_t* next_seq) const {
  event.seq = (*next_seq)++;
  if (event.time_ms == 0) event.time_ms = options_.clock->NowMillis();
  std::string value = codec::EncodeEvent(event);
  batch->Put(cf(kEvents), codec::GlobalEventKey(event.seq), value);
  if (!event.trial_id.empty()) {
    batch->Put(cf(kEvents), codec::TrialEventKey(event.trial_id, event.seq), value);
  }
}

void RocksDbStore::PutNewTrials(rocksdb::WriteBatch* batch, const std::vector<TrialRecord>& trials,
                                int64_t now_ms) const {
  for (const TrialRecord& trial : trials) {
    const TrialRecord t = rules::NewTrialRecord(trial, now_ms);
    batch->Put(cf(kTrials), t.id, codec::EncodeTrial(t));
    batch->Put(cf(kTrialConfigs), t.id, t.config);
  }
}

Status RocksDbStore::CreateSweep(const SweepRecord& sweep, const std::vector<TrialRecord>& trials,
                                 const std::string& actor) {
  LF_RETURN_IF_ERROR(CheckWritable());
  LF_RETURN_IF_ERROR(rules::ValidateNewSweep(sweep, trials));

  std::lock_guard lock(write_mu_);
  LF_ASSIGN_OR_RETURN(auto existing, GetRaw(kSweeps, sweep.id));
  if (existing) return AlreadyExists("sweep " + sweep.id + " already exists");
  {
    // Trial ids start with the sweep id, so one seek finds any trial left under this sweep.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kTrials)));
    it->Seek(sweep.id);
    if (it->Valid() && HasPrefix(it->key(), sweep.id)) {
      return AlreadyExists("trial " + it->key().ToString() + " already exists");
    }
    LF_RETURN_IF_ERROR(FromRocks(it->status(), "checking for existing trials"));
  }

  const int64_t now = options_.clock->NowMillis();
  rocksdb::WriteBatch batch;
  const SweepRecord s = rules::NewSweepRecord(sweep, now);
  batch.Put(cf(kSweeps), s.id, codec::EncodeSweep(s));
  PutNewTrials(&batch, trials, now);
  uint64_t next_seq = next_event_seq_;
  AddEvent(&batch,
           {.actor = actor,
            .kind = "sweep.created",
            .sweep_id = s.id,
            .detail = rules::SweepCreatedDetail(s)},
           &next_seq);
  LF_RETURN_IF_ERROR(CommitDurably(&batch, "creating sweep " + s.id));
  next_event_seq_ = next_seq;
  return Status::Ok();
}

Status RocksDbStore::AddTrials(const std::string& sweep_id, const std::vector<TrialRecord>& trials,
                               const std::string& actor) {
  LF_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard lock(write_mu_);
  LF_ASSIGN_OR_RETURN(SweepRecord s, GetSweep(sweep_id));
  const int64_t now = options_.clock->NowMillis();
  LF_ASSIGN_OR_RETURN(std::string detail, rules::ApplyAddedTrials(trials, now, &s));
  rocksdb::WriteBatch batch;
  batch.Put(cf(kSweeps), s.id, codec::EncodeSweep(s));
  PutNewTrials(&batch, trials, now);
  uint64_t next_seq = next_event_seq_;
  AddEvent(&batch,
           {.actor = actor, .kind = "sweep.trials_added", .sweep_id = s.id, .detail = detail},
           &next_seq);
  LF_RETURN_IF_ERROR(CommitDurably(&batch, "adding trials to sweep " + s.id));
  next_event_seq_ = next_seq;
  return Status::Ok();
}

Result<SweepRecord> RocksDbStore::GetSweep(const std::string& sweep_id) const {
  LF_ASSIGN_OR_RETURN(auto value, GetRaw(kSweeps, sweep_id));
  if (!value) return NotFound("no sweep with id " + sweep_id);
  return codec::DecodeSweep(sweep_id, *value);
}

Result<std::vector<SweepRecord>> RocksDbStore::ListSweeps() const {
  std::vector<SweepRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kSweeps)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    // One damaged record (quarantined at the next open) must not hide every other sweep.
    Result<SweepRecord> s =
        codec::DecodeSweep(it->key().ToStringView(), it->value().ToStringView());
    if (!s.ok()) {
      NoteSkipped("sweeps", it->key().ToStringView(), s.status());
      continue;
    }
    out.push_back(std::move(s).value());
  }
  LF_RETURN_IF_ERROR(FromRocks(it->status(), "listing sweeps"));
  return out;
}

Result<SweepRecord> RocksDbStore::UpdateSweep(const std::string& sweep_id,
                                              const SweepUpdate& update) {
  LF_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard lock(write_mu_);
  LF_ASSIGN_OR_RETURN(SweepRecord s, GetSweep(sweep_id));
  LF_ASSIGN_OR_RETURN(std::string detail,
                      rules::ApplySweepUpdate(update, options_.clock->NowMillis(), &s));
  if (detail.empty()) return s;  // nothing to change
  rocksdb::WriteBatch batch;
  batch.Put(cf(kSweeps), s.id, codec::EncodeSweep(s));
  uint64_t next_seq = next_event_seq_;
  AddEvent(&batch,
           {.actor = update.actor, .kind = "sweep.updated", .sweep_id = s.id, .detail = detail},
           &next_seq);
  LF_RETURN_IF_ERROR(CommitDurably(&batch, "updating sweep " + s.id));
  next_event_seq_ = next_seq;
  return s;
}

// Records written before trial_configs existed carry their config inline.
Status RocksDbStore::AttachConfig(TrialRecord* t) const {
  if (!t->config.empty()) return Status::Ok();
  LF_ASSIGN_OR_RETURN(auto config, GetRaw(kTrialConfigs, t->id));
  if (config) t->config = std::move(*config);
  return Status::Ok();
}

Result<TrialRecord> RocksDbStore::GetTrial(const std::string& trial_id) const {
  LF_ASSIGN_OR_RETURN(auto value, GetRaw(kTrials, trial_id));
  if (!value) return NotFound("no trial with id " + trial_id);
  LF_ASSIGN_OR_RETURN(TrialRecord t, codec::DecodeTrial(trial_id, *value));
  LF_RETURN_IF_ERROR(AttachConfig(&t));
  return t;
}

Result<std::vector<TrialRecord>> RocksDbStore::ListTrials(const TrialFilter& filter) const {
  std::vector<TrialRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kTrials)));
  const std::string prefix = filter.sweep_id.value_or("");
  for (it->Seek(prefix); it->Valid() && HasPrefix(it->key(), prefix); it->Next()) {
    Result<TrialRecord> decoded =
        codec::DecodeTrial(it->key().ToStringView(), it->value().ToStringView());
    if (!decoded.ok()) {
      NoteSkipped("trials", it->key().ToStringView(), decoded.status());
      continue;
    }
    TrialRecord t = std::move(decoded).value();
    LF_RETURN_IF_ERROR(AttachConfig(&t));
    if (!filter.states.empty() &&
        std::find(filter.states.begin(), filter.states.end(), t.state) == filter.states.end()) {
      continue;
    }
    out.push_back(std::move(t));
  }
  LF_RETURN_IF_ERROR(FromRocks(it->status(), "listing trials"));
  return out;
}

Result<TrialRecord> RocksDbStore::TransitionTrial(const TransitionRequest& request) {
  std::vector<Result<TrialRecord>> results = TransitionTrials({request});
  return std::move(results[0]);
}

std::vector<Result<TrialRecord>> RocksDbStore::TransitionTrials(
    const std::vector<TransitionRequest>& requests) {
  std::vector<Result<TrialRecord>> results;
  results.reserve(requests.size());
  if (Status st = CheckWritable(); !st.ok()) {
    for (size_t i = 0; i < requests.size(); ++i) results.emplace_back(st);
    return results;
  }
  // Adapter files are checked and hashed before taking the lock: they can be hundreds of MB.
  const int64_t now = options_.clock->NowMillis();
  std::vector<std::vector<std::string>> encoded(requests.size());
  std::vector<Status> file_errors(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    for (const auto& file : requests[i].files) {
      file_errors[i] = codec::ValidateAdapterName(requests[i].trial_id, file.name);
      if (!file_errors[i].ok()) break;
      encoded[i].push_back(codec::EncodeAdapterValue(file.bytes, now));
    }
  }
  std::lock_guard lock(write_mu_);
  std::map<std::string, TrialRecord> pending;  // trials changed earlier in this batch
  rocksdb::WriteBatch batch;
  uint64_t next_seq = next_event_seq_;
  for (size_t i = 0; i < requests.size(); ++i) {
    const TransitionRequest& r = requests[i];
    if (!file_errors[i].ok()) {
      results.emplace_back(file_errors[i]);
      continue;
    }
    TrialRecord trial;
    if (auto it = pending.find(r.trial_id); it != pending.end()) {
      trial = it->second;
    } else {
      Result<TrialRecord> loaded = GetTrial(r.trial_id);
      if (!loaded.ok()) {
        results.emplace_back(loaded.status());
        continue;
      }
      trial = std::move(loaded).value();
    }
    if (Status st = rules::ApplyTransition(r, options_.clock->NowMillis(), &trial); !st.ok()) {
      results.emplace_back(st);
      continue;
    }
    batch.Put(cf(kTrials), trial.id, codec::EncodeTrial(trial));
    AddEvent(&batch,
             {.actor = r.actor,
              .kind = "trial.transition",
              .sweep_id = trial.sweep_id,
              .trial_id = trial.id,
              .detail = rules::TransitionDetail(r, trial)},
             &next_seq);
    // One audit event for all the files of a completion: the log says what was stored without
    // growing by a pair of keys per file.
    std::vector<AdapterFileInfo> stored_files;
    for (size_t f = 0; f < r.files.size(); ++f) {
      batch.Put(cf(kAdapters), codec::AdapterKey(trial.id, r.files[f].name), encoded[i][f]);
      auto stored = codec::DecodeAdapterValue(trial.id, r.files[f].name, encoded[i][f],
                                              /*verify_checksum=*/false);
      LF_CHECK_OK(stored.status());
      stored_files.push_back(std::move(stored->info));
    }
    if (!r.files.empty()) {
      AddEvent(&batch,
               {.actor = r.actor,
                .kind = "adapter.stored",
                .sweep_id = trial.sweep_id,
                .trial_id = trial.id,
                .detail = rules::AdapterStoredDetail(stored_files)},
               &next_seq);
    }
    pending[trial.id] = trial;
    results.emplace_back(std::move(trial));
  }
  if (batch.Count() == 0) return results;
  Status committed = CommitDurably(&batch, "committing trial transitions");
  if (!committed.ok()) {
    for (auto& r : results) {
      if (r.ok()) r = Result<TrialRecord>(committed);
    }
    return results;
  }
  next_event_seq_ = next_seq;
  return results;
}

Result<uint64_t> RocksDbStore::RecordEvent(const EventRecord& event) {
  LF_RETURN_IF_ERROR(CheckWritable());
  if (event.kind.empty()) return InvalidArgument("an event needs a kind (e.g. \"worker.lost\")");
  std::lock_guard lock(write_mu_);
  rocksdb::WriteBatch batch;
  uint64_t next_seq = next_event_seq_;
  const uint64_t seq = next_seq;
  AddEvent(&batch, event, &next_seq);
  LF_RETURN_IF_ERROR(CommitDurably(&batch, "recording event " + event.kind));
  next_event_seq_ = next_seq;
  return seq;
}

Result<std::vector<EventRecord>> RocksDbStore::ReadEvents(const EventQuery& query) const {
  std::string prefix;
  if (query.trial_id) {
    prefix = std::string(1, codec::kTrialEventPrefix) + *query.trial_id;
  } else {
    prefix = std::string(1, codec::kGlobalEventPrefix);
  }
  std::string start = prefix;
  codec::AppendBigEndian64(&start, query.after_seq + 1);
  std::vector<EventRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kEvents)));
  for (it->Seek(start); it->Valid() && HasPrefix(it->key(), prefix) && out.size() < query.limit;
       it->Next()) {
    if (it->key().size() != prefix.size() + 8) continue;  // another trial id sharing the prefix
    Result<EventRecord> e = codec::DecodeEvent(it->value().ToStringView());
    if (!e.ok()) {
      NoteSkipped("events", it->key().ToStringView(), e.status());
      continue;
    }
    out.push_back(std::move(e).value());
  }
  LF_RETURN_IF_ERROR(FromRocks(it->status(), "reading events"));
  return out;
}

Status RocksDbStore::BackfillResults() {
  LF_ASSIGN_OR_RETURN(
      std::vector<TrialRecord> trials,
      ListTrials({.states = {jobs::TrialState::kCompleted, jobs::TrialState::kStopped}}));
  rocksdb::WriteBatch batch;
  for (TrialRecord& t : trials) {
    if (t.result) continue;
    Result<std::string> bytes = GetAdapterFile(t.id, "result.json");
    if (!bytes.ok()) continue;  // stored without one (by a tool or a test): no result to show
    Result<Json> doc = ParseJson(*bytes, "result.json of trial " + t.id);
    Result<jobs::TrialResult> result =
        doc.ok() ? jobs::ParseTrialResult(*doc, "result.json of trial " + t.id)
                 : Result<jobs::TrialResult>(doc.status());
    if (!result.ok()) {
      LF_LOG_WARN("trial {}: its result.json does not read, so views show no result for it: {}",
                  t.id, result.status().ToString());
      continue;
    }
    t.result = std::move(result).value();
    batch.Put(cf(kTrials), t.id, codec::EncodeTrial(t));
  }
  if (batch.Count() == 0) return Status::Ok();
  LF_LOG_INFO("store {}: {} trial records now carry their result", options_.path, batch.Count());
  return CommitDurably(&batch, "storing trial results read from result.json");
}

}  // namespace lf::store
