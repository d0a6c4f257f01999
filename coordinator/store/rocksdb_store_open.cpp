// Opening a store (schema checks, recovery of the event sequence), backups and store info.
#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>

#include "common/version.h"
#include "coordinator/store/rocksdb_store.h"
#include "coordinator/store/store_codec.h"

namespace lf::store {
namespace {

constexpr const char* kSchemaVersionKey = "schema_version";
constexpr const char* kCreatedByKey = "created_by";
constexpr const char* kCreatedMsKey = "created_ms";

// Metric rows are merged, not overwritten: see codec::MergeMetricRows.
class MetricRowMergeOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* merged, rocksdb::Logger* logger) const override {
    if (existing == nullptr) {
      merged->assign(value.data(), value.size());
      return true;
    }
    // false makes RocksDB report Corruption, which the store turns into kDataLoss.
    return codec::MergeMetricRows(existing->ToStringView(), value.ToStringView(), merged);
  }
  const char* Name() const override { return "lorafleet.MetricRowMerge"; }
};

rocksdb::ColumnFamilyOptions MakeFamilyOptions(const std::string& name) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions table;
  if (name == "trials" || name == "sweeps" || name == "meta") {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));  // point lookups by id
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  if (name == "metrics") {
    o.write_buffer_size = 64 << 20;  // metric appends come in bursts; fewer, larger flushes
    o.merge_operator = std::make_shared<MetricRowMergeOperator>();
  }
  if (name == "adapters") {
    // Adapter files (KB to hundreds of MB) live in blob files so compactions of the LSM tree
    // do not rewrite them; the tree keeps only small references.
    o.enable_blob_files = true;
    o.min_blob_size = 4096;
    o.enable_blob_garbage_collection = true;
  }
  return o;
}

bool StoreExists(const std::string& path) {
  return std::filesystem::exists(std::filesystem::path(path) / "CURRENT");
}

}  // namespace

const char* RocksDbStore::FamilyName(Family f) {
  switch (f) {
    case kMeta: return "meta";
    case kSweeps: return "sweeps";
    case kTrials: return "trials";
    case kMetrics: return "metrics";
    case kAdapters: return "adapters";
    case kEvents: return "events";
    case kTrialConfigs: return "trial_configs";
    case kFamilyCount: break;
  }
  return "?";
}

Result<std::unique_ptr<ExperimentStore>> OpenRocksDbStore(const StoreOptions& options) {
  return RocksDbStore::Open(options, nullptr);
}

RocksDbStore::RocksDbStore(const StoreOptions& options,
                           std::shared_ptr<rocksdb::FileSystem> file_system)
    : options_(options), file_system_(std::move(file_system)) {
  if (file_system_) env_ = rocksdb::NewCompositeEnv(file_system_);
  listener_ = NewHealthListener(health_, options_);
  logger_ = NewLogger(options_.path);
}

rocksdb::DBOptions RocksDbStore::DbOptions() const {
  rocksdb::DBOptions o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.info_log = logger_;
  o.max_background_jobs = 2;
  if (env_) o.env = env_.get();
  o.listeners.push_back(listener_);
  return o;
}

RocksDbStore::~RocksDbStore() {
  if (!db_) return;
  for (auto* h : handles_) {
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h);
  }
  for (auto* h : extra_handles_) db_->DestroyColumnFamilyHandle(h);
  db_->Close();
}

Result<std::unique_ptr<ExperimentStore>> RocksDbStore::Open(
    const StoreOptions& options, std::shared_ptr<rocksdb::FileSystem> file_system) {
  if (options.path.empty()) return InvalidArgument("store path is empty; give a directory");
  if (options.clock == nullptr) return InvalidArgument("StoreOptions.clock is null");
  std::unique_ptr<RocksDbStore> store(new RocksDbStore(options, std::move(file_system)));
  LF_RETURN_IF_ERROR(store->OpenDb());
  if (!options.read_only) {
    LF_RETURN_IF_ERROR(store->QuarantineUndecodable());
    LF_RETURN_IF_ERROR(store->BackfillResults());
  }
  return std::unique_ptr<ExperimentStore>(std::move(store));
}

Status RocksDbStore::FromRocks(const rocksdb::Status& s, const std::string& what) const {
  if (s.ok()) return Status::Ok();
  std::string message = what + " (store " + options_.path + "): " + s.ToString();
  if (s.IsCorruption()) {
    return DataLoss(message + "; the store is damaged: restore it from a backup");
  }
  if (s.IsNotFound()) return NotFound(message);
  // Unavailable (HTTP 503), not ResourceExhausted (429, a user's quota): the server is short.
  if (s.IsNoSpace()) return Unavailable(message + "; free disk space and retry");
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return Unavailable(message);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return FailedPrecondition(message +
                              "; another process (a running coordinator?) has it open for "
                              "writing: stop it, or open the store read-only to inspect it");
  }
  return Internal(message);
}

Status RocksDbStore::CreateStore() const {
  // Built under a temporary name and renamed into place, so a process killed while creating
  // leaves either no store or a complete one with its schema version, never half of one.
  const std::string& path = options_.path;
  const std::string tmp = path + ".creating";
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  if (std::filesystem::path(path).has_parent_path()) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (int f = 0; f < kFamilyCount; ++f) {
    descriptors.emplace_back(FamilyName(static_cast<Family>(f)),
                             MakeFamilyOptions(FamilyName(static_cast<Family>(f))));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(DbOptions(), tmp, descriptors, &handles, &raw);
  if (!s.ok()) return FromRocks(s, "creating a new store in " + tmp);
  rocksdb::WriteBatch batch;
  rocksdb::ColumnFamilyHandle* meta = handles[1 + kMeta];
  batch.Put(meta, kSchemaVersionKey, std::to_string(kSchemaVersion));
  batch.Put(meta, kCreatedByKey, kVersion);
  batch.Put(meta, kCreatedMsKey, std::to_string(options_.clock->NowMillis()));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = raw->Write(wo, &batch);
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  rocksdb::Status closed = raw->Close();
  delete raw;
  if (!s.ok()) return FromRocks(s, "writing the schema version of a new store");
  if (!closed.ok()) return FromRocks(closed, "closing a new store");
  // The store holds every adapter and the audit log: private to its owner, as its parent is.
  std::filesystem::permissions(tmp, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  // rename(2) replaces an empty directory, e.g. one the user made for the store.
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return FailedPrecondition("cannot move the new store " + tmp + " to " + path + ": " +
                              ec.message() + " (is " + path + " a non-empty directory?)");
  }
  return Status::Ok();
}

Status RocksDbStore::OpenDb() {
  const std::string& path = options_.path;
  if (!StoreExists(path)) {
    if (options_.read_only || !options_.create_if_missing) {
      return NotFound("no experiment store at " + path +
                      " (no RocksDB CURRENT file); check the path, or start the coordinator "
                      "once to create it");
    }
    LF_RETURN_IF_ERROR(CreateStore());
  }

  rocksdb::DBOptions db_options = DbOptions();
  std::vector<std::string> existing;
  {
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, path, &existing);
    if (!s.ok()) return FromRocks(s, "listing column families");
    if (std::find(existing.begin(), existing.end(), "meta") == existing.end()) {
      return FailedPrecondition(path + " is a RocksDB database but not a lorafleet experiment "
                                       "store (it has no 'meta' column family)");
    }
    // Read the schema version before opening everything: a newer store may use options this
    // build cannot open, and must be refused untouched.
    std::vector<rocksdb::ColumnFamilyDescriptor> probe = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"meta", rocksdb::ColumnFamilyOptions()}};
    std::vector<rocksdb::ColumnFamilyHandle*> probe_handles;
    rocksdb::DB* raw = nullptr;
    s = rocksdb::DB::OpenForReadOnly(db_options, path, probe, &probe_handles, &raw);
    if (!s.ok()) return FromRocks(s, "opening to read the schema version");
    std::string version;
    s = raw->Get(rocksdb::ReadOptions(), probe_handles[1], kSchemaVersionKey, &version);
    std::string created_by;
    raw->Get(rocksdb::ReadOptions(), probe_handles[1], kCreatedByKey, &created_by);
    for (auto* h : probe_handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
    if (!s.ok()) {
      return FailedPrecondition(path + " is not a lorafleet experiment store: it has no schema "
                                       "version (" + s.ToString() + ")");
    }
    int stored_version = 0;
    try {
      stored_version = std::stoi(version);
    } catch (const std::exception&) {
      return DataLoss("store " + path + " has an unreadable schema version '" + version + "'");
    }
    if (stored_version > kSchemaVersion) {
      return FailedPrecondition(
          "store " + path + " has schema version " + std::to_string(stored_version) +
          " (written by lorafleet " + (created_by.empty() ? "?" : created_by) +
          "), but this lorafleet " + kVersion + " reads schema versions up to " +
          std::to_string(kSchemaVersion) +
          ". Upgrade lorafleet to open it; the store was not modified");
    }
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (int f = 0; f < kFamilyCount; ++f) {
    std::string name = FamilyName(static_cast<Family>(f));
    if (options_.read_only &&
        std::find(existing.begin(), existing.end(), name) == existing.end()) {
      return DataLoss("store " + path + " lacks the '" + name + "' column family");
    }
    descriptors.emplace_back(name, MakeFamilyOptions(name));
  }
  for (const std::string& name : existing) {
    bool known = name == rocksdb::kDefaultColumnFamilyName;
    for (int f = 0; f < kFamilyCount; ++f) known |= name == FamilyName(static_cast<Family>(f));
    if (!known) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }

  std::vector<rocksdb::ColumnFamilyHandle*> opened;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      options_.read_only
          ? rocksdb::DB::OpenForReadOnly(db_options, path, descriptors, &opened, &raw)
          : rocksdb::DB::Open(db_options, path, descriptors, &opened, &raw);
  if (!s.ok()) return FromRocks(s, options_.read_only ? "opening read-only" : "opening");
  db_.reset(raw);
  handles_.assign(opened.begin() + 1, opened.begin() + 1 + kFamilyCount);
  extra_handles_.assign(opened.begin() + 1 + kFamilyCount, opened.end());
  db_->DestroyColumnFamilyHandle(opened[0]);  // the default family is unused

  return RecoverEventSequence();
}

Status RocksDbStore::RecoverEventSequence() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kEvents)));
  std::string upper(1, codec::kGlobalEventPrefix + 1);
  it->SeekForPrev(upper);
  if (it->Valid() && !it->key().empty() && it->key()[0] == codec::kGlobalEventPrefix) {
    next_event_seq_ = codec::ReadBigEndian64(it->key().ToStringView().substr(1)) + 1;
  }
  return FromRocks(it->status(), "recovering the event sequence");
}

Status RocksDbStore::CheckWritable() const {
  if (options_.read_only) {
    return FailedPrecondition("store " + options_.path +
                              " is open read-only for inspection; changes go through the running "
                              "coordinator");
  }
  std::lock_guard lock(health_->mu);
  if (health_->writable) return Status::Ok();
  return Unavailable("store " + options_.path + " takes no writes since " +
                     FormatUtcMillis(health_->since_ms) + ": " + health_->error);
}

Result<std::optional<std::string>> RocksDbStore::GetRaw(Family f, const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(f), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, std::string("reading ") + FamilyName(f) + " '" + key + "'");
  return std::optional<std::string>(std::move(value));
}

Status RocksDbStore::CommitDurably(rocksdb::WriteBatch* batch, const std::string& what) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Write(wo, batch), what);
}

Status RocksDbStore::Backup(const std::string& target_dir) const {
  if (std::filesystem::exists(target_dir)) {
    return AlreadyExists("backup directory " + target_dir +
                         " already exists; name a new directory (the backup creates it)");
  }
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  if (!s.ok()) return FromRocks(s, "preparing a backup");
  // Flush first so the backup holds SST files, not a WAL to replay (log_size_for_flush = 0).
  return FromRocks(checkpoint->CreateCheckpoint(target_dir, 0), "backing up to " + target_dir);
}

Result<StoreInfo> RocksDbStore::Info() const {
  StoreInfo info;
  info.path = options_.path;
  info.read_only = options_.read_only;
  LF_ASSIGN_OR_RETURN(auto version, GetRaw(kMeta, kSchemaVersionKey));
  info.schema_version = version ? std::stoi(*version) : 0;
  LF_ASSIGN_OR_RETURN(auto created_by, GetRaw(kMeta, kCreatedByKey));
  info.created_by = created_by.value_or("");
  for (Family f : {kSweeps, kTrials}) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(f)));
    uint64_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    LF_RETURN_IF_ERROR(FromRocks(it->status(), "counting records"));
    (f == kSweeps ? info.sweeps : info.trials) = n;
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kEvents)));
    it->SeekForPrev(std::string(1, codec::kGlobalEventPrefix + 1));
    if (it->Valid() && it->key()[0] == codec::kGlobalEventPrefix) {
      info.last_event_seq = codec::ReadBigEndian64(it->key().ToStringView().substr(1));
    }
  }
  info.approximate_bytes = ApproximateBytes();
  LF_ASSIGN_OR_RETURN(std::vector<QuarantinedRecord> quarantined, ListQuarantined());
  info.quarantined = quarantined.size();
  return info;
}

uint64_t RocksDbStore::ApproximateBytes() const {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.path, ec)) {
    if (entry.is_regular_file(ec)) bytes += entry.file_size(ec);
  }
  return bytes;
}

}  // namespace lf::store
