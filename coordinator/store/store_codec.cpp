#include "coordinator/store/store_codec.h"

#include <algorithm>
#include <cstring>

#include "common/json_reader.h"
#include "common/sha256.h"

namespace lf::store::codec {
namespace {

constexpr std::string_view kAdapterMagic = "LFA1";
constexpr size_t kAdapterHeaderSize = 4 + 32 + 8;

template <typename T>
void AppendRaw(std::string* out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  out->append(buf, sizeof(T));
}

template <typename T>
T ReadRaw(std::string_view bytes) {
  T v;
  std::memcpy(&v, bytes.data(), sizeof(T));
  return v;
}

Status Corrupt(std::string_view what, std::string_view key, const std::exception& e) {
  return DataLoss("stored " + std::string(what) + " '" + std::string(key) +
                  "' cannot be decoded (" + e.what() +
                  "); the store is damaged: restore it from a backup (`lorafleet-store backup`)");
}

}  // namespace

void AppendBigEndian64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

uint64_t ReadBigEndian64(std::string_view bytes) {
  LF_CHECK(bytes.size() >= 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

std::string EncodeSweep(const SweepRecord& s) {
  Json j = {{"id", s.id},
            {"name", s.name},
            {"owner", s.owner},
            {"spec", s.spec},
            {"resolved", s.resolved},
            {"state", jobs::SweepStateName(s.state)},
            {"priority", s.priority},
            {"trial_count", s.trial_count},
            {"created_ms", s.created_ms},
            {"updated_ms", s.updated_ms},
            {"version", s.version}};
  return j.dump();
}

Result<SweepRecord> DecodeSweep(std::string_view key, std::string_view value) {
  try {
    Json j = Json::parse(value);
    SweepRecord s;
    s.id = j.at("id").get<std::string>();
    s.name = j.at("name").get<std::string>();
    s.owner = j.at("owner").get<std::string>();
    s.spec = j.at("spec").get<std::string>();
    s.resolved = j.at("resolved").get<std::string>();
    LF_ASSIGN_OR_RETURN(s.state, jobs::ParseSweepState(j.at("state").get<std::string>()));
    s.priority = j.at("priority").get<int32_t>();
    s.trial_count = j.at("trial_count").get<uint32_t>();
    s.created_ms = j.at("created_ms").get<int64_t>();
    s.updated_ms = j.at("updated_ms").get<int64_t>();
    s.version = j.at("version").get<uint64_t>();
    return s;
  } catch (const std::exception& e) {
    return Corrupt("sweep", key, e);
  }
}

std::string EncodeTrial(const TrialRecord& t) {
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
            {"version", t.version}};
  if (t.result) j["result"] = jobs::TrialResultToJson(*t.result);
  return j.dump();
}

Result<TrialRecord> DecodeTrial(std::string_view key, std::string_view value) {
  try {
    Json j = Json::parse(value);
    TrialRecord t;
    t.id = j.at("id").get<std::string>();
    t.sweep_id = j.at("sweep_id").get<std::string>();
    t.index = j.at("index").get<uint32_t>();
    t.config = j.value("config", std::string());  // inline only in records from before v1.1
    LF_ASSIGN_OR_RETURN(t.state, jobs::ParseTrialState(j.at("state").get<std::string>()));
    t.attempt = j.at("attempt").get<uint32_t>();
    t.failures = j.value("failures", 0u);
    t.worker = j.at("worker").get<std::string>();
    t.last_error = j.at("last_error").get<std::string>();
    t.checkpoint = j.at("checkpoint").get<std::string>();
    t.created_ms = j.at("created_ms").get<int64_t>();
    t.updated_ms = j.at("updated_ms").get<int64_t>();
    t.started_ms = j.at("started_ms").get<int64_t>();
    t.finished_ms = j.at("finished_ms").get<int64_t>();
    t.version = j.at("version").get<uint64_t>();
    if (auto r = j.find("result"); r != j.end() && !r->is_null()) {
      Result<jobs::TrialResult> result = jobs::ParseTrialResult(*r, "result");
      if (!result.ok()) {
        return DataLoss("trial record " + t.id + ": " + result.status().message());
      }
      t.result = std::move(result).value();
    }
    return t;
  } catch (const std::exception& e) {
    return Corrupt("trial", key, e);
  }
}

std::string EncodeEvent(const EventRecord& e) {
  Json j = {{"seq", e.seq},       {"time_ms", e.time_ms},   {"actor", e.actor},
            {"kind", e.kind},     {"sweep_id", e.sweep_id}, {"trial_id", e.trial_id},
            {"detail", e.detail}};
  return j.dump();
}

Result<EventRecord> DecodeEvent(std::string_view value) {
  try {
    Json j = Json::parse(value);
    EventRecord e;
    e.seq = j.at("seq").get<uint64_t>();
    e.time_ms = j.at("time_ms").get<int64_t>();
    e.actor = j.at("actor").get<std::string>();
    e.kind = j.at("kind").get<std::string>();
    e.sweep_id = j.at("sweep_id").get<std::string>();
    e.trial_id = j.at("trial_id").get<std::string>();
    e.detail = j.at("detail").get<std::string>();
    return e;
  } catch (const std::exception& ex) {
    return Corrupt("event", std::string_view(value).substr(0, 40), ex);
  }
}

std::string MetricRowKey(std::string_view trial_id, int64_t step) {
  std::string key;
  key.reserve(trial_id.size() + 8);
  key.append(trial_id);
  AppendBigEndian64(&key, static_cast<uint64_t>(step));
  return key;
}

void AppendMetricEntry(std::string* row, std::string_view name, double value, int64_t time_ms) {
  LF_CHECK(!name.empty() && name.size() <= 255);
  row->push_back(static_cast<char>(name.size()));
  row->append(name);
  AppendRaw(row, value);  // little-endian hosts only, as everywhere in this file
  AppendRaw(row, time_ms);
}

namespace {

struct MetricEntry {
  std::string_view name;
  std::string_view payload;  // value and time, 16 bytes
};

bool ParseMetricRow(std::string_view row, std::vector<MetricEntry>* out) {
  while (!row.empty()) {
    const size_t len = static_cast<uint8_t>(row[0]);
    if (len == 0 || row.size() < 1 + len + 16) return false;
    out->push_back({row.substr(1, len), row.substr(1 + len, 16)});
    row.remove_prefix(1 + len + 16);
  }
  return true;
}

}  // namespace

Status DecodeMetricRow(std::string_view trial_id, std::string_view key, std::string_view row,
                       std::vector<MetricPoint>* out) {
  std::vector<MetricEntry> entries;
  if (key.size() != trial_id.size() + 8 || !ParseMetricRow(row, &entries)) {
    return DataLoss("a metric row of trial " + std::string(trial_id) +
                    " is malformed; the store is damaged: restore it from a backup");
  }
  const int64_t step = static_cast<int64_t>(ReadBigEndian64(key.substr(trial_id.size())));
  for (const MetricEntry& e : entries) {
    out->push_back({.step = step,
                    .name = std::string(e.name),
                    .value = ReadRaw<double>(e.payload),
                    .time_ms = ReadRaw<int64_t>(e.payload.substr(8))});
  }
  return Status::Ok();
}

bool MergeMetricRows(std::string_view earlier, std::string_view later, std::string* merged) {
  std::vector<MetricEntry> entries;
  if (!ParseMetricRow(later, &entries)) return false;
  if (!ParseMetricRow(earlier, &entries)) return false;
  // Stable sort keeps `later` entries ahead of `earlier` ones with the same name.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const MetricEntry& a, const MetricEntry& b) { return a.name < b.name; });
  merged->clear();
  merged->reserve(earlier.size() + later.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0 && entries[i].name == entries[i - 1].name) continue;
    merged->push_back(static_cast<char>(entries[i].name.size()));
    merged->append(entries[i].name);
    merged->append(entries[i].payload);
  }
  return true;
}

std::string GlobalEventKey(uint64_t seq) {
  std::string key(1, kGlobalEventPrefix);
  AppendBigEndian64(&key, seq);
  return key;
}

std::string TrialEventKey(std::string_view trial_id, uint64_t seq) {
  std::string key(1, kTrialEventPrefix);
  key.append(trial_id);
  AppendBigEndian64(&key, seq);
  return key;
}

std::string AdapterKey(std::string_view trial_id, std::string_view name) {
  std::string key(trial_id);
  key.push_back('/');
  key.append(name);
  return key;
}

Status ValidateAdapterName(std::string_view trial_id, std::string_view name) {
  constexpr size_t kMaxAdapterNameBytes = 255;
  if (name.empty() || name.size() > kMaxAdapterNameBytes || name.find('/') != std::string::npos ||
      name == "." || name == "..") {
    return InvalidArgument("adapter file name '" + std::string(name) + "' of trial " +
                           std::string(trial_id) + " must be a plain file name (1-255 bytes, no '/')");
  }
  return Status::Ok();
}

std::string EncodeAdapterValue(std::string_view bytes, int64_t stored_ms) {
  std::string out;
  out.reserve(kAdapterHeaderSize + bytes.size());
  out.append(kAdapterMagic);
  Sha256Digest digest = Sha256Of(bytes);
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  AppendRaw(&out, stored_ms);
  out.append(bytes);
  return out;
}

Result<AdapterValue> DecodeAdapterValue(std::string_view trial_id, std::string_view name,
                                        std::string_view value, bool verify_checksum) {
  const std::string where = "adapter file '" + std::string(name) + "' of trial " +
                            std::string(trial_id);
  if (value.size() < kAdapterHeaderSize || value.substr(0, 4) != kAdapterMagic) {
    return DataLoss(where + " is corrupt: its stored header is damaged; restore the store from "
                            "a backup or retrain the trial");
  }
  Sha256Digest stored;
  std::memcpy(stored.data(), value.data() + 4, stored.size());
  AdapterValue out;
  out.bytes = value.substr(kAdapterHeaderSize);
  out.info.trial_id = std::string(trial_id);
  out.info.name = std::string(name);
  out.info.size = out.bytes.size();
  out.info.sha256 = ToHex(stored);
  out.info.stored_ms = ReadRaw<int64_t>(value.substr(36));
  if (verify_checksum) {
    Sha256Digest actual = Sha256Of(out.bytes);
    if (actual != stored) {
      return DataLoss(where + " is corrupt: stored sha256 " + ToHex(stored) + ", content hashes to " +
                      ToHex(actual) + "; restore the store from a backup or retrain the trial");
    }
  }
  return out;
}

}  // namespace lf::store::codec
