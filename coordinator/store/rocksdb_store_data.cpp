// Metric points and adapter files: the bulk data of a trial; and the tags naming adapters.
#include <algorithm>

#include "common/json_reader.h"
#include "coordinator/store/rocksdb_store.h"
#include "coordinator/store/store_codec.h"
#include "coordinator/store/store_rules.h"

namespace lf::store {
namespace {

// Tags live in the meta family under this prefix, as JSON {"trial_id", "actor", "time_ms"}.
constexpr const char* kTagPrefix = "tag/";
}  // namespace

Status RocksDbStore::AppendMetrics(const std::string& trial_id,
                                   std::span<const MetricPoint> points) {
  LF_RETURN_IF_ERROR(CheckWritable());
  if (points.empty()) return Status::Ok();
  LF_RETURN_IF_ERROR(rules::ValidateMetricPoints(trial_id, points));
  {
    rocksdb::PinnableSlice trial;  // existence check without copying the record
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kTrials), trial_id, &trial);
    if (s.IsNotFound()) return NotFound("metrics for unknown trial " + trial_id);
    LF_RETURN_IF_ERROR(FromRocks(s, "looking up trial " + trial_id));
  }

  // One row per step, entries by name; for a (step, name) given twice the later point wins.
  std::vector<const MetricPoint*> sorted;
  sorted.reserve(points.size());
  for (const MetricPoint& p : points) sorted.push_back(&p);
  auto by_step_then_name = [](const MetricPoint* a, const MetricPoint* b) {
    return a->step != b->step ? a->step < b->step : a->name < b->name;
  };
  if (!std::is_sorted(sorted.begin(), sorted.end(), by_step_then_name)) {
    std::stable_sort(sorted.begin(), sorted.end(), by_step_then_name);
  }
  rocksdb::WriteBatch batch(points.size() * 48 + 64);
  const int64_t now = options_.clock->NowMillis();
  std::string row;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const MetricPoint& p = *sorted[i];
    if (i + 1 < sorted.size() && sorted[i + 1]->step == p.step && sorted[i + 1]->name == p.name) {
      continue;  // replaced by the later point
    }
    codec::AppendMetricEntry(&row, p.name, p.value, p.time_ms ? p.time_ms : now);
    if (i + 1 == sorted.size() || sorted[i + 1]->step != p.step) {
      batch.Merge(cf(kMetrics), codec::MetricRowKey(trial_id, p.step), row);
      row.clear();
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_metrics;
  return FromRocks(db_->Write(wo, &batch), "appending metrics of trial " + trial_id);
}

Result<std::vector<MetricPoint>> RocksDbStore::ReadMetrics(const std::string& trial_id,
                                                           const MetricQuery& query) const {
  std::vector<MetricPoint> out;
  if (query.from_step > query.to_step || query.to_step < 0) return out;
  const std::string start = codec::MetricRowKey(trial_id, std::max<int64_t>(0, query.from_step));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kMetrics)));
  std::vector<MetricPoint> row;
  for (it->Seek(start); it->Valid() && out.size() < query.limit; it->Next()) {
    std::string_view key = it->key().ToStringView();
    if (key.size() != trial_id.size() + 8 || key.substr(0, trial_id.size()) != trial_id) break;
    row.clear();
    if (Status st = codec::DecodeMetricRow(trial_id, key, it->value().ToStringView(), &row);
        !st.ok()) {
      NoteSkipped("metrics", trial_id + " step " +
                                 std::to_string(codec::ReadBigEndian64(key.substr(trial_id.size()))),
                  st);
      row.clear();
      continue;
    }
    if (!row.empty() && row[0].step > query.to_step) break;
    for (MetricPoint& p : row) {
      if (out.size() >= query.limit) break;
      if (query.name && p.name != *query.name) continue;
      out.push_back(std::move(p));
    }
  }
  LF_RETURN_IF_ERROR(FromRocks(it->status(), "reading metrics of trial " + trial_id));
  return out;
}

Result<AdapterFileInfo> RocksDbStore::PutAdapterFile(const std::string& trial_id,
                                                     const std::string& name,
                                                     std::string_view bytes,
                                                     const std::string& actor) {
  LF_RETURN_IF_ERROR(CheckWritable());
  LF_RETURN_IF_ERROR(codec::ValidateAdapterName(trial_id, name));
  // Hash outside the lock: adapters can be hundreds of MB.
  const int64_t now = options_.clock->NowMillis();
  std::string value = codec::EncodeAdapterValue(bytes, now);
  LF_ASSIGN_OR_RETURN(codec::AdapterValue decoded,
                      codec::DecodeAdapterValue(trial_id, name, value, /*verify_checksum=*/false));
  std::lock_guard lock(write_mu_);
  LF_ASSIGN_OR_RETURN(auto trial_value, GetRaw(kTrials, trial_id));
  if (!trial_value) return NotFound("cannot store adapter file for unknown trial " + trial_id);
  LF_ASSIGN_OR_RETURN(TrialRecord trial, codec::DecodeTrial(trial_id, *trial_value));
  rocksdb::WriteBatch batch;
  batch.Put(cf(kAdapters), codec::AdapterKey(trial_id, name), value);
  uint64_t next_seq = next_event_seq_;
  AddEvent(&batch,
           {.actor = actor,
            .kind = "adapter.stored",
            .sweep_id = trial.sweep_id,
            .trial_id = trial_id,
            .detail = rules::AdapterStoredDetail({decoded.info})},
           &next_seq);
  LF_RETURN_IF_ERROR(CommitDurably(&batch, "storing adapter file " + name + " of " + trial_id));
  next_event_seq_ = next_seq;
  return decoded.info;
}

Result<std::string> RocksDbStore::GetAdapterFile(const std::string& trial_id,
                                                 const std::string& name) const {
  LF_ASSIGN_OR_RETURN(auto value, GetRaw(kAdapters, codec::AdapterKey(trial_id, name)));
  if (!value) return NotFound("trial " + trial_id + " has no adapter file '" + name + "'");
  LF_ASSIGN_OR_RETURN(codec::AdapterValue decoded,
                      codec::DecodeAdapterValue(trial_id, name, *value, /*verify_checksum=*/true));
  return std::string(decoded.bytes);
}

Result<std::vector<AdapterFileInfo>> RocksDbStore::ListAdapterFiles(
    const std::string& trial_id) const {
  std::vector<AdapterFileInfo> out;
  const std::string prefix = trial_id + "/";
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kAdapters)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string name = it->key().ToString().substr(prefix.size());
    LF_ASSIGN_OR_RETURN(codec::AdapterValue decoded,
                        codec::DecodeAdapterValue(trial_id, name, it->value().ToStringView(),
                                                  /*verify_checksum=*/false));
    out.push_back(std::move(decoded.info));
  }
  LF_RETURN_IF_ERROR(FromRocks(it->status(), "listing adapter files of " + trial_id));
  return out;
}

Status RocksDbStore::SetTag(const TagRecord& tag) {
  LF_RETURN_IF_ERROR(CheckWritable());
  if (tag.name.empty()) return InvalidArgument("a tag needs a name");
  LF_ASSIGN_OR_RETURN(auto trial, GetRaw(kTrials, tag.trial_id));
  if (!trial) return NotFound("no trial with id '" + tag.trial_id + "'");
  const std::string key = kTagPrefix + tag.name;
  std::lock_guard lock(write_mu_);
  LF_ASSIGN_OR_RETURN(auto before, GetRaw(kMeta, key));
  std::string moved;
  if (before) {
    Result<Json> old = ParseJson(*before, "tag " + tag.name);
    if (old.ok()) moved = old->value("trial_id", "");
  }
  const int64_t now = tag.time_ms != 0 ? tag.time_ms : options_.clock->NowMillis();
  rocksdb::WriteBatch batch;
  batch.Put(cf(kMeta), key,
            Json{{"trial_id", tag.trial_id}, {"actor", tag.actor}, {"time_ms", now}}.dump());
  uint64_t next_seq = next_event_seq_;
  AddEvent(&batch,
           {.time_ms = now,
            .actor = tag.actor,
            .kind = "adapter.tagged",
            .trial_id = tag.trial_id,
            .detail = rules::TagDetail(tag, moved)},
           &next_seq);
  LF_RETURN_IF_ERROR(CommitDurably(&batch, "tagging " + tag.trial_id + " as " + tag.name));
  next_event_seq_ = next_seq;
  return Status::Ok();
}

Result<std::vector<TagRecord>> RocksDbStore::ListTags() const {
  std::vector<TagRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kMeta)));
  const rocksdb::Slice prefix(kTagPrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    TagRecord tag;
    tag.name = it->key().ToString().substr(prefix.size());
    LF_ASSIGN_OR_RETURN(Json j, ParseJson(it->value().ToString(), "tag " + tag.name));
    tag.trial_id = j.value("trial_id", "");
    tag.actor = j.value("actor", "");
    tag.time_ms = j.value("time_ms", int64_t{0});
    out.push_back(std::move(tag));
  }
  LF_RETURN_IF_ERROR(FromRocks(it->status(), "listing tags"));
  return out;
}

}  // namespace lf::store
