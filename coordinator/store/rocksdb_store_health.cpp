// What the store does when the disk or a record fails it: RocksDB's background errors (a full
// disk during a flush, a compaction or a WAL write) stop writes until TryResume's DB::Resume
// succeeds; records that do not decode are moved to the quarantine at open, or skipped by reads.
#include <rocksdb/listener.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "common/json_reader.h"
#include "common/logging.h"
#include "coordinator/store/rocksdb_store.h"
#include "coordinator/store/store_codec.h"

namespace lf::store {
namespace {

// meta family: quarantine/<family>/<original key> -> JSON {"family", "key", "error", "time_ms",
// "bytes_hex"}; the original key is kept byte for byte in the meta key.
constexpr std::string_view kQuarantinePrefix = "quarantine/";

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string FromHex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return 0;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return out;
}

const char* ReasonName(rocksdb::BackgroundErrorReason reason) {
  switch (reason) {
    case rocksdb::BackgroundErrorReason::kFlush:
      return "a flush";
    case rocksdb::BackgroundErrorReason::kCompaction:
      return "a compaction";
    case rocksdb::BackgroundErrorReason::kWriteCallback:
      return "a write";
    case rocksdb::BackgroundErrorReason::kMemTable:
      return "a memtable insert";
    case rocksdb::BackgroundErrorReason::kManifestWrite:
      return "a manifest write";
    case rocksdb::BackgroundErrorReason::kFlushNoWAL:
      return "a flush";
    case rocksdb::BackgroundErrorReason::kManifestWriteNoWAL:
      return "a manifest write";
  }
  return "a background job";
}

// RocksDB calls it from its own threads, some holding the DB mutex: it only records and logs.
class HealthListener final : public rocksdb::EventListener {
 public:
  HealthListener(std::function<void(std::string, bool)> stop, std::function<void()> recovered)
      : stop_(std::move(stop)), recovered_(std::move(recovered)) {}

  void OnBackgroundError(rocksdb::BackgroundErrorReason reason,
                         rocksdb::Status* bg_error) override {
    if (bg_error == nullptr || bg_error->ok()) return;
    const bool fatal = bg_error->severity() >= rocksdb::Status::Severity::kFatalError;
    std::string what = std::string(ReasonName(reason)) + " failed: " + bg_error->ToString();
    const bool full =
        bg_error->IsNoSpace() || bg_error->ToString().find("space") != std::string::npos;
    what += full ? "; the disk is full: free space on it" : "; check the disk and the log";
    what += fatal ? ", then restart lorafleetd: RocksDB cannot resume from this error in place "
                    "(nothing acknowledged was lost; workers keep training and reconnect)"
                  : " (the coordinator retries every few seconds and carries on once writes "
                    "work; nothing acknowledged was lost)";
    stop_(std::move(what), fatal);
  }
  // RocksDB's own recovery from a full disk waits for free space of the largest write buffer
  // (64 MiB here) and, while it waits, makes Resume busy: the store would stay stopped long after
  // the operator freed enough room. The coordinator's tick calls TryResume instead.
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/, rocksdb::Status /*bg_error*/,
                            bool* auto_recovery) override {
    if (auto_recovery != nullptr) *auto_recovery = false;
  }
  void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    if (info.new_bg_error.ok()) recovered_();
  }

 private:
  std::function<void(std::string, bool)> stop_;
  std::function<void()> recovered_;
};

// RocksDB's own log lines go to the process log, not to a LOG file in the store: on a full disk
// that file fails too, and this RocksDB build (Debian's, assertions on) aborts on the next line
// logged to a file whose append failed.
class ProcessLogger final : public rocksdb::Logger {
 public:
  explicit ProcessLogger(std::string path)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), path_(std::move(path)) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char buf[1024];
    const int n = std::vsnprintf(buf, sizeof(buf), format, ap);
    if (n < 0) return;
    const std::string_view line(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) {
      LF_LOG_ERROR("store {}: RocksDB: {}", path_, line);
    } else if (level >= rocksdb::InfoLogLevel::WARN_LEVEL) {
      LF_LOG_WARN("store {}: RocksDB: {}", path_, line);
    } else {
      LF_LOG_DEBUG("store {}: RocksDB: {}", path_, line);
    }
  }

 private:
  std::string path_;
};

}  // namespace

std::shared_ptr<rocksdb::Logger> RocksDbStore::NewLogger(const std::string& path) {
  return std::make_shared<ProcessLogger>(path);
}

std::shared_ptr<rocksdb::EventListener> RocksDbStore::NewHealthListener(
    std::shared_ptr<HealthState> health, const StoreOptions& options) {
  const std::string path = options.path;
  const Clock* clock = options.clock;
  auto stop = [h = health, path, clock](std::string what, bool fatal) {
    std::lock_guard lock(h->mu);
    // The first error says why; later ones follow from it, unless one makes a restart necessary.
    if (!h->writable && (h->needs_restart || !fatal)) return;
    if (h->writable) h->since_ms = clock->NowMillis();
    h->writable = false;
    h->needs_restart = fatal;
    h->error = what;
    LF_LOG_ERROR("store {}: writes stopped: {}", path, what);
  };
  auto recovered = [h = health, path] {
    std::lock_guard lock(h->mu);
    if (h->writable || h->needs_restart) return;
    h->writable = true;
    h->error.clear();
    h->since_ms = 0;
    LF_LOG_INFO("store {}: RocksDB recovered from the background error; writes go on", path);
  };
  return std::make_shared<HealthListener>(std::move(stop), std::move(recovered));
}

StoreHealth RocksDbStore::Health() const {
  StoreHealth out{.quarantined = quarantined_.load(), .skipped = skipped_.load()};
  std::lock_guard lock(health_->mu);
  out.writable = health_->writable;
  out.error = health_->error;
  out.since_ms = health_->since_ms;
  return out;
}

Status RocksDbStore::TryResume() {
  if (options_.read_only) return Status::Ok();
  {
    std::lock_guard lock(health_->mu);
    if (health_->writable) return Status::Ok();
    if (health_->needs_restart) {
      return FailedPrecondition("store " + options_.path + " takes no writes: " + health_->error);
    }
  }
  // Resume flushes the memtables and starts a new WAL. Tried on a disk still full, the failure
  // to create that WAL is one RocksDB cannot resume from, so it waits for room first.
  uint64_t memtables = 0;
  db_->GetIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &memtables);
  const uint64_t need = memtables + (1 << 20);
  std::error_code ec;
  const std::filesystem::space_info space = std::filesystem::space(options_.path, ec);
  if (!ec && space.available < need) {
    std::lock_guard lock(health_->mu);
    return Unavailable("store " + options_.path + " still takes no writes (" + health_->error +
                       "): " + std::to_string(space.available >> 20) +
                       " MiB free on its disk, and resuming needs about " +
                       std::to_string(need >> 20) + " MiB");
  }
  rocksdb::Status s = db_->Resume();
  std::lock_guard lock(health_->mu);
  if (!s.ok()) {
    if (s.severity() >= rocksdb::Status::Severity::kFatalError && !health_->needs_restart) {
      health_->needs_restart = true;
      health_->error += "; resuming failed (" + s.ToString() +
                        "): restart lorafleetd once the disk has room (nothing acknowledged "
                        "was lost)";
      LF_LOG_ERROR("store {}: {}", options_.path, health_->error);
    }
    return Unavailable("store " + options_.path + " still takes no writes (" + health_->error +
                       "); " +
                       (s.IsBusy() ? std::string("RocksDB is recovering on its own")
                                   : "resuming failed: " + s.ToString()));
  }
  if (!health_->writable) {
    LF_LOG_INFO("store {}: writes resumed after {:.1f} s stopped", options_.path,
                static_cast<double>(options_.clock->NowMillis() - health_->since_ms) / 1000.0);
  }
  health_->writable = true;
  health_->error.clear();
  health_->since_ms = 0;
  return Status::Ok();
}

void RocksDbStore::NoteSkipped(std::string_view family, std::string_view key,
                               const Status& error) const {
  skipped_.fetch_add(1);
  LF_LOG_WARN("store {}: skipped {} record '{}', which does not decode: {}", options_.path, family,
              key, error.message());
}

Status RocksDbStore::QuarantineUndecodable() {
  const int64_t now = options_.clock->NowMillis();
  rocksdb::WriteBatch batch;
  for (Family f : {kSweeps, kTrials}) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(f)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view key = it->key().ToStringView();
      const std::string_view value = it->value().ToStringView();
      const Status decoded = f == kSweeps ? codec::DecodeSweep(key, value).status()
                                          : codec::DecodeTrial(key, value).status();
      if (decoded.ok()) continue;
      const Json record = {{"family", FamilyName(f)},
                           {"key", std::string(key)},
                           {"error", decoded.message()},
                           {"time_ms", now},
                           {"bytes_hex", ToHex(value)}};
      std::string quarantine_key = std::string(kQuarantinePrefix) + FamilyName(f) + "/";
      quarantine_key.append(key);
      batch.Put(cf(kMeta), quarantine_key,
                record.dump(-1, ' ', false, Json::error_handler_t::replace));
      batch.Delete(cf(f), it->key());
      LF_LOG_ERROR(
          "store {}: the {} record '{}' does not decode and was moved to the quarantine "
          "(`lorafleet-store quarantine` shows it; the rest of the store is unaffected): "
          "{}",
          options_.path, FamilyName(f), key, decoded.message());
    }
    LF_RETURN_IF_ERROR(FromRocks(it->status(), std::string("checking the ") + FamilyName(f)));
  }
  if (batch.Count() > 0) {
    LF_RETURN_IF_ERROR(CommitDurably(&batch, "moving undecodable records to the quarantine"));
  }
  LF_ASSIGN_OR_RETURN(std::vector<QuarantinedRecord> all, ListQuarantined());
  quarantined_ = all.size();
  if (!all.empty()) {
    LF_LOG_WARN(
        "store {}: {} record(s) in the quarantine; `lorafleet-store quarantine` lists "
        "them",
        options_.path, all.size());
  }
  return Status::Ok();
}

Result<std::vector<QuarantinedRecord>> RocksDbStore::ListQuarantined() const {
  std::vector<QuarantinedRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kMeta)));
  const rocksdb::Slice prefix(kQuarantinePrefix.data(), kQuarantinePrefix.size());
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string meta_key = it->key().ToString();
    QuarantinedRecord r;
    const std::string rest = meta_key.substr(kQuarantinePrefix.size());
    const size_t slash = rest.find('/');
    r.family = rest.substr(0, slash);
    r.key = slash == std::string::npos ? "" : rest.substr(slash + 1);
    Result<Json> j = ParseJson(it->value().ToString(), "quarantined record " + meta_key);
    if (j.ok()) {
      r.error = j->value("error", "");
      r.time_ms = j->value("time_ms", int64_t{0});
      r.bytes = FromHex(j->value("bytes_hex", ""));
    } else {
      r.error = "(the quarantine entry itself does not read: " + j.status().message() + ")";
    }
    out.push_back(std::move(r));
  }
  LF_RETURN_IF_ERROR(FromRocks(it->status(), "listing the quarantine"));
  return out;
}

}  // namespace lf::store
