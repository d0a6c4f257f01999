#include <gtest/gtest.h>

#include <rocksdb/db.h>

#include <filesystem>

#include "store_test_util.h"

namespace lf::store {
namespace {

using testing::RocksDbStoreTest;

// Info's counts, against the RocksDB and the in-memory store.
class StoreInfoTest : public testing::StoreTest {};
INSTANTIATE_TEST_SUITE_P(Stores, StoreInfoTest, testing::EveryStore(), testing::StoreKindName);

// Rewrites meta/schema_version with the store closed, as a newer lorafleet would leave it.
void SetSchemaVersion(const std::string& dir, const std::string& version) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir, cfs, &handles, &raw).ok());
  size_t meta = std::find(names.begin(), names.end(), "meta") - names.begin();
  ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), handles[meta], "schema_version", version).ok());
  ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), handles[meta], "created_by", "9.9.9").ok());
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
}

TEST_P(StoreInfoTest, NewStoreRecordsSchemaVersion) {
  auto info = store_->Info().value();
  EXPECT_EQ(info.schema_version, kSchemaVersion);
  EXPECT_FALSE(info.created_by.empty());
  EXPECT_EQ(info.sweeps, 0u);
  AddSweep(3);
  info = store_->Info().value();
  EXPECT_EQ(info.sweeps, 1u);
  EXPECT_EQ(info.trials, 3u);
  EXPECT_EQ(info.last_event_seq, 1u);
  EXPECT_GT(info.approximate_bytes, 0u);
}

TEST_F(RocksDbStoreTest, StoreFromANewerVersionIsRefusedAndLeftUntouched) {
  SweepRecord s = AddSweep(1);
  store_.reset();
  SetSchemaVersion(dir_, std::to_string(kSchemaVersion + 1));
  auto opened = OpenRocksDbStore({.path = dir_, .clock = &clock_});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(opened.status().message().find("schema version 2"), std::string::npos);
  EXPECT_NE(opened.status().message().find("9.9.9"), std::string::npos);
  EXPECT_NE(opened.status().message().find("Upgrade lorafleet"), std::string::npos);
  EXPECT_FALSE(OpenRocksDbStore({.path = dir_, .read_only = true}).ok());
  // Back to our version: everything is still there.
  SetSchemaVersion(dir_, std::to_string(kSchemaVersion));
  Reopen();
  EXPECT_TRUE(store_->GetSweep(s.id).ok());
}

TEST(StoreOpenTest, MissingStoresAndForeignDatabasesAreNamed) {
  std::string dir = testing::FreshDir("missing");
  auto ro = OpenRocksDbStore({.path = dir, .read_only = true});
  EXPECT_EQ(ro.status().code(), StatusCode::kNotFound);
  EXPECT_NE(ro.status().message().find(dir), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir));  // read-only never creates
  EXPECT_EQ(OpenRocksDbStore({.path = dir, .create_if_missing = false}).status().code(),
            StatusCode::kNotFound);

  std::string foreign = testing::FreshDir("foreign");
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(o, foreign, &raw).ok());
  delete raw;
  auto opened = OpenRocksDbStore({.path = foreign});
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("not a lorafleet experiment store"), std::string::npos);
  EXPECT_EQ(OpenRocksDbStore({.path = ""}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RocksDbStoreTest, SecondWriterIsRefusedWhileReadOnlyInspectionWorks) {
  SweepRecord s = AddSweep(2);
  auto second = OpenRocksDbStore({.path = dir_});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("read-only"), std::string::npos);

  auto reader = OpenRocksDbStore({.path = dir_, .read_only = true});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->ListTrials({.sweep_id = s.id})->size(), 2u);
  EXPECT_EQ((*reader)->GetSweep(s.id)->name, "s");
  // Every write is refused on a read-only store.
  std::string t = MakeTrialId(s.id, 0);
  Status refused = (*reader)
                       ->TransitionTrial(Move(t, jobs::TrialState::kQueued,
                                              jobs::TrialState::kCancelled))
                       .status();
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("read-only"), std::string::npos);
  EXPECT_FALSE((*reader)->AppendMetrics(t, std::vector<MetricPoint>{{1, "loss", 1, 1}}).ok());
  EXPECT_FALSE((*reader)->PutAdapterFile(t, "a", "b", "w").ok());
  EXPECT_FALSE((*reader)->RecordEvent({.kind = "x"}).ok());
  EXPECT_FALSE((*reader)->CreateSweep(testing::MakeSweep(ids_, 0), {}, "u").ok());
  EXPECT_EQ(store_->GetTrial(t)->state, jobs::TrialState::kQueued);
}

TEST_F(RocksDbStoreTest, BackupIsAConsistentSnapshotThatOpensAsAStore) {
  SweepRecord s = AddSweep(2);
  std::string t = MakeTrialId(s.id, 0);
  ASSERT_TRUE(store_->AppendMetrics(t, std::vector<MetricPoint>{{1, "loss", 2.5, 1}}).ok());
  ASSERT_TRUE(store_->PutAdapterFile(t, "adapter_model.safetensors", std::string(10000, 'x'), "w")
                  .ok());
  std::string backup = testing::FreshDir("backup");
  ASSERT_TRUE(store_->Backup(backup).ok());
  // Changes after the backup are not in it.
  ASSERT_TRUE(store_->TransitionTrial(Move(t, jobs::TrialState::kQueued,
                                           jobs::TrialState::kCancelled))
                  .ok());
  AddSweep(1);
  EXPECT_EQ(store_->Backup(backup).code(), StatusCode::kAlreadyExists);

  auto copy = OpenRocksDbStore({.path = backup, .read_only = true});
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ((*copy)->ListSweeps()->size(), 1u);
  EXPECT_EQ((*copy)->GetTrial(t)->state, jobs::TrialState::kQueued);
  EXPECT_EQ((*copy)->ReadMetrics(t, {})->size(), 1u);
  EXPECT_EQ((*copy)->GetAdapterFile(t, "adapter_model.safetensors")->size(), 10000u);
  copy->reset();
  // A backup is a full store: it opens writable too.
  auto writable = OpenRocksDbStore({.path = backup});
  ASSERT_TRUE(writable.ok());
  EXPECT_TRUE((*writable)->TransitionTrial(Move(t, jobs::TrialState::kQueued,
                                                 jobs::TrialState::kAssigned))
                  .ok());
}

// The in-memory store has no files: a backup is refused, saying so, rather than silently empty.
TEST(MemoryStoreTest, BackupIsRefusedAsUnimplemented) {
  FakeClock clock;
  std::unique_ptr<ExperimentStore> store = NewMemoryStore(&clock);
  const std::string target = testing::FreshDir("memory_backup");
  Status st = store->Backup(target);
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  EXPECT_NE(st.message().find(target), std::string::npos);
  EXPECT_NE(st.message().find("in memory"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(target));
}

}  // namespace
}  // namespace lf::store
