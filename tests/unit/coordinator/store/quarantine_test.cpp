// Records that do not decode: garbage written under a key with raw RocksDB, as a bug or a damaged
// disk would leave it. Opening the store moves it to the quarantine with its key, bytes and error
// and goes on; metric rows and events that do not decode are skipped by reads.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <functional>

#include "coordinator/store/store_codec.h"
#include "coordinator/store/store_tool.h"
#include "store/store_test_util.h"

namespace lf::store::testing {
namespace {

// Runs `write` against the closed store's RocksDB database, every column family open.
void WriteRaw(
    const std::string& path,
    const std::function<void(rocksdb::DB*, std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>&
        write) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, descriptors, &handles, &db).ok());
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
  for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
  write(db, by_name);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  ASSERT_TRUE(db->Close().ok());
  delete db;
}

TEST_F(RocksDbStoreTest, UndecodableTrialAndSweepAreQuarantinedAndTheRestOpens) {
  SweepRecord good = AddSweep(3);
  SweepRecord bad = AddSweep(1);
  const std::string broken_trial = MakeTrialId(good.id, 1);
  store_.reset();
  const std::string garbage = std::string("{\"id\": \"trunc\xff\x00", 16);
  WriteRaw(dir_, [&](rocksdb::DB* db, auto& cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf.at("trials"), broken_trial, garbage).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf.at("sweeps"), bad.id, "not json").ok());
  });

  Reopen();  // asserts that it opens
  auto trials = store_->ListTrials({.sweep_id = good.id});
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 2u);
  EXPECT_EQ((*trials)[0].id, MakeTrialId(good.id, 0));
  EXPECT_EQ((*trials)[1].id, MakeTrialId(good.id, 2));
  EXPECT_EQ((*trials)[1].config, MakeTrials(good)[2].config);
  auto sweeps = store_->ListSweeps();
  ASSERT_TRUE(sweeps.ok());
  ASSERT_EQ(sweeps->size(), 1u);
  EXPECT_EQ((*sweeps)[0].id, good.id);
  EXPECT_EQ(store_->GetTrial(broken_trial).status().code(), StatusCode::kNotFound);

  auto quarantined = store_->ListQuarantined();
  ASSERT_TRUE(quarantined.ok());
  ASSERT_EQ(quarantined->size(), 2u);
  const QuarantinedRecord& sweep_record = (*quarantined)[0];  // by family name: sweeps first
  EXPECT_EQ(sweep_record.family, "sweeps");
  EXPECT_EQ(sweep_record.key, bad.id);
  EXPECT_EQ(sweep_record.bytes, "not json");
  const QuarantinedRecord& trial_record = (*quarantined)[1];
  EXPECT_EQ(trial_record.family, "trials");
  EXPECT_EQ(trial_record.key, broken_trial);
  EXPECT_EQ(trial_record.bytes, garbage);  // byte for byte, to restore by hand
  EXPECT_NE(trial_record.error.find(broken_trial), std::string::npos) << trial_record.error;
  EXPECT_NE(trial_record.error.find("cannot be decoded"), std::string::npos) << trial_record.error;
  EXPECT_EQ(store_->Health().quarantined, 2u);
  auto info = store_->Info();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->quarantined, 2u);

  // The store works on; a later open finds nothing new and keeps the quarantine as it was.
  ASSERT_TRUE(store_
                  ->TransitionTrial(Move(MakeTrialId(good.id, 0), jobs::TrialState::kQueued,
                                         jobs::TrialState::kAssigned))
                  .ok());
  Reopen();
  EXPECT_EQ(store_->Health().quarantined, 2u);
  EXPECT_EQ(store_->ListQuarantined()->size(), 2u);
  store_.reset();

  // The tool lists it (read-only, as while the coordinator runs).
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunStoreTool({"quarantine", "--store", dir_}), 0);
  const std::string listed = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(listed.find("trials/" + broken_trial), std::string::npos) << listed;
  EXPECT_NE(listed.find("sweeps/" + bad.id), std::string::npos) << listed;
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunStoreTool({"info", "--store", dir_}), 0);
  const std::string shown = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(shown.find("2 record(s) in the quarantine"), std::string::npos) << shown;
}

// Opened read-only (the tool, while the coordinator runs) nothing moves, and lists skip it.
TEST_F(RocksDbStoreTest, ReadOnlyListsSkipUndecodableRecords) {
  SweepRecord s = AddSweep(2);
  store_.reset();
  WriteRaw(dir_, [&](rocksdb::DB* db, auto& cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf.at("trials"), MakeTrialId(s.id, 0), "{").ok());
  });
  auto opened = OpenRocksDbStore({.path = dir_, .read_only = true, .clock = &clock_});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto trials = (*opened)->ListTrials({});
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  ASSERT_EQ(trials->size(), 1u);
  EXPECT_EQ((*trials)[0].id, MakeTrialId(s.id, 1));
  EXPECT_EQ((*opened)->Health().skipped, 1u);
  EXPECT_TRUE((*opened)->ListQuarantined()->empty());
}

TEST_F(RocksDbStoreTest, UndecodableMetricRowsAndEventsAreSkipped) {
  SweepRecord s = AddSweep(1);
  const std::string t = MakeTrialId(s.id, 0);
  const std::vector<MetricPoint> points = {{.step = 1, .name = "loss", .value = 3},
                                           {.step = 2, .name = "loss", .value = 2},
                                           {.step = 3, .name = "loss", .value = 1}};
  ASSERT_TRUE(store_->AppendMetrics(t, points).ok());
  ASSERT_TRUE(store_->RecordEvent({.actor = "a", .kind = "worker.lost", .trial_id = t}).ok());
  ASSERT_TRUE(store_->RecordEvent({.actor = "a", .kind = "worker.lost", .trial_id = t}).ok());
  // Reopened once so the rows are merged into SST files: WriteRaw opens RocksDB without the
  // store's merge operator, which must not meet unmerged operands.
  Reopen();
  ASSERT_EQ(store_->ReadMetrics(t, {})->size(), 3u);
  store_.reset();
  WriteRaw(dir_, [&](rocksdb::DB* db, auto& cf) {
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), cf.at("metrics"), codec::MetricRowKey(t, 2), "\x05xy")
            .ok());
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), cf.at("events"), codec::GlobalEventKey(2), "garbage")
            .ok());
  });
  Reopen();
  auto metrics = store_->ReadMetrics(t, {});
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  ASSERT_EQ(metrics->size(), 2u);
  EXPECT_EQ((*metrics)[0].step, 1);
  EXPECT_EQ((*metrics)[1].step, 3);
  auto events = store_->ReadEvents({});
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  EXPECT_EQ(events->size(), 2u);  // sweep.created and the second worker.lost
  EXPECT_EQ(store_->Health().skipped, 2u);
}

}  // namespace
}  // namespace lf::store::testing
