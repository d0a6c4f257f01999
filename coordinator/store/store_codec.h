// How records and keys are laid out in RocksDB (internal to the store). Sweeps, trials and
// events are JSON values so `ldb` and future versions can read them; metric points and adapter
// values are binary because they are many or large. Byte layouts are in docs/store.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "coordinator/store/experiment_store.h"

namespace lf::store::codec {

// Big-endian so that byte order equals numeric order in RocksDB's default comparator.
void AppendBigEndian64(std::string* out, uint64_t v);
uint64_t ReadBigEndian64(std::string_view bytes);

std::string EncodeSweep(const SweepRecord& sweep);
Result<SweepRecord> DecodeSweep(std::string_view key, std::string_view value);
std::string EncodeTrial(const TrialRecord& trial);
Result<TrialRecord> DecodeTrial(std::string_view key, std::string_view value);
std::string EncodeEvent(const EventRecord& event);
Result<EventRecord> DecodeEvent(std::string_view value);

// metrics CF: one row per (trial, step), so a range scan returns a trial's steps in order:
//   <trial id> <step, big-endian u64>  ->  entries sorted by name, each
//   <name length u8> <name> <value f64 LE> <time_ms i64 LE>
// Rows are written with RocksDB Merge; MetricRowMergeOperator unions the entries of all writes
// to a row, the later write winning for a name (a resumed trial replaying a step replaces it).
std::string MetricRowKey(std::string_view trial_id, int64_t step);
void AppendMetricEntry(std::string* row, std::string_view name, double value, int64_t time_ms);
// Appends the row's points to `out`, in name order. kDataLoss when the row is malformed.
Status DecodeMetricRow(std::string_view trial_id, std::string_view key, std::string_view row,
                       std::vector<MetricPoint>* out);
// Unions rows: entries of `later` replace those of `earlier` with the same name. Returns false
// when either row is malformed.
bool MergeMetricRows(std::string_view earlier, std::string_view later, std::string* merged);

// events CF: 'g' <seq>  -> event          (the global log)
//            't' <trial id> <seq> -> event (per-trial index, written in the same batch)
std::string GlobalEventKey(uint64_t seq);
std::string TrialEventKey(std::string_view trial_id, uint64_t seq);
inline constexpr char kGlobalEventPrefix = 'g';
inline constexpr char kTrialEventPrefix = 't';

// adapters CF: <trial id> '/' <file name>  ->  "LFA1" <sha256, 32 bytes> <stored_ms i64 LE> <bytes>
std::string AdapterKey(std::string_view trial_id, std::string_view name);
// A plain file name: 1-255 bytes, no '/', not "." or "..".
Status ValidateAdapterName(std::string_view trial_id, std::string_view name);
std::string EncodeAdapterValue(std::string_view bytes, int64_t stored_ms);
struct AdapterValue {
  AdapterFileInfo info;
  std::string_view bytes;  // points into the encoded value
};
// Verifies the magic and the checksum; corruption is kDataLoss naming trial and file.
Result<AdapterValue> DecodeAdapterValue(std::string_view trial_id, std::string_view name,
                                        std::string_view value, bool verify_checksum);

}  // namespace lf::store::codec
