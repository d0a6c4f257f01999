#include <gtest/gtest.h>

#include <rocksdb/db.h>

#include <random>

#include "common/sha256.h"
#include "coordinator/store/store_codec.h"
#include "store_test_util.h"

namespace lf::store {
namespace {

// Every test here runs against the RocksDB and the in-memory store, except the corruption test
// (it damages RocksDB's files).
class MetricsAdaptersTest : public testing::StoreTest {};
INSTANTIATE_TEST_SUITE_P(Stores, MetricsAdaptersTest, testing::EveryStore(),
                         testing::StoreKindName);
using testing::RocksDbStoreTest;

TEST_P(MetricsAdaptersTest, MetricsComeBackOrderedByStepThenName) {
  SweepRecord s = AddSweep(2);
  std::string a = MakeTrialId(s.id, 0), b = MakeTrialId(s.id, 1);
  // Appended out of order, in several batches, interleaved with another trial's points.
  std::vector<MetricPoint> batch1 = {{300, "loss", 1.5, 10}, {2, "loss", 3.0, 1}};
  std::vector<MetricPoint> batch2 = {{256, "loss", 2.0, 5}, {2, "lr", 1e-4, 1},
                                     {1, "loss", 3.5, 1}};
  ASSERT_TRUE(store_->AppendMetrics(a, batch1).ok());
  ASSERT_TRUE(store_->AppendMetrics(b, std::vector<MetricPoint>{{1, "loss", 9.0, 1}}).ok());
  ASSERT_TRUE(store_->AppendMetrics(a, batch2).ok());
  Reopen();
  auto points = store_->ReadMetrics(a, {}).value();
  ASSERT_EQ(points.size(), 5u);
  std::vector<std::pair<int64_t, std::string>> order;
  for (auto& p : points) order.emplace_back(p.step, p.name);
  EXPECT_EQ(order, (std::vector<std::pair<int64_t, std::string>>{
                       {1, "loss"}, {2, "loss"}, {2, "lr"}, {256, "loss"}, {300, "loss"}}));
  EXPECT_DOUBLE_EQ(points[2].value, 1e-4);
  EXPECT_EQ(points[4].time_ms, 10);

  auto range = store_->ReadMetrics(a, {.from_step = 2, .to_step = 256, .name = "loss"}).value();
  ASSERT_EQ(range.size(), 2u);
  EXPECT_EQ(range[0].step, 2);
  EXPECT_EQ(range[1].step, 256);
  EXPECT_EQ(store_->ReadMetrics(a, {.limit = 2})->size(), 2u);
  EXPECT_EQ(store_->ReadMetrics(b, {})->size(), 1u);
}

TEST_P(MetricsAdaptersTest, ReplayedStepsReplaceTheirValues) {
  SweepRecord s = AddSweep(1);
  std::string a = MakeTrialId(s.id, 0);
  ASSERT_TRUE(store_->AppendMetrics(a, std::vector<MetricPoint>{{5, "loss", 2.0, 1}}).ok());
  ASSERT_TRUE(store_->AppendMetrics(a, std::vector<MetricPoint>{{5, "loss", 1.9, 2}}).ok());
  auto points = store_->ReadMetrics(a, {}).value();
  ASSERT_EQ(points.size(), 1u);
  EXPECT_DOUBLE_EQ(points[0].value, 1.9);
}

TEST_P(MetricsAdaptersTest, BadMetricsAreRejectedWithoutWritingAnyOfTheBatch) {
  SweepRecord s = AddSweep(1);
  std::string a = MakeTrialId(s.id, 0);
  std::vector<MetricPoint> bad = {{1, "loss", 1, 1}, {-1, "loss", 1, 1}};
  Status st = store_->AppendMetrics(a, bad);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("step -1"), std::string::npos);
  EXPECT_EQ(store_->AppendMetrics(a, std::vector<MetricPoint>{{1, "", 1, 1}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AppendMetrics("unknown-trial", std::vector<MetricPoint>{{1, "x", 1, 1}}).code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(store_->ReadMetrics(a, {})->empty());
}

TEST_P(MetricsAdaptersTest, AdapterFilesRoundTripWithChecksums) {
  SweepRecord s = AddSweep(1);
  std::string a = MakeTrialId(s.id, 0);
  std::string big(3 << 20, '\0');  // large enough to go to a blob file
  std::mt19937 rng(5);
  for (char& c : big) c = static_cast<char>(rng());
  auto info = store_->PutAdapterFile(a, "adapter_model.safetensors", big, "worker:host-a/0");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, big.size());
  EXPECT_EQ(info->sha256, Sha256Hex(big));
  ASSERT_TRUE(store_->PutAdapterFile(a, "adapter_config.json", "{\"r\": 8}", "w").ok());
  Reopen();
  EXPECT_EQ(*store_->GetAdapterFile(a, "adapter_model.safetensors"), big);
  EXPECT_EQ(*store_->GetAdapterFile(a, "adapter_config.json"), "{\"r\": 8}");
  auto files = store_->ListAdapterFiles(a).value();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].name, "adapter_config.json");
  EXPECT_EQ(files[1].name, "adapter_model.safetensors");
  EXPECT_EQ(files[1].sha256, Sha256Hex(big));
  EXPECT_EQ(store_->GetAdapterFile(a, "missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->PutAdapterFile(a, "../escape", "x", "w").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->PutAdapterFile("nope", "a", "x", "w").status().code(), StatusCode::kNotFound);
  auto events = store_->ReadEvents({.trial_id = a}).value();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, "adapter.stored");
}

TEST_P(MetricsAdaptersTest, ATagNamesOneTrialAndMovesWhenGivenToAnother) {
  SweepRecord s = AddSweep(2);
  std::string a = MakeTrialId(s.id, 0), b = MakeTrialId(s.id, 1);
  clock_.SetMillis(1'900'000'000'000);
  ASSERT_TRUE(store_->SetTag({.name = "prod", .trial_id = a, .actor = "user:alice"}).ok());
  ASSERT_TRUE(store_->SetTag({.name = "best", .trial_id = a, .actor = "user:alice"}).ok());
  ASSERT_TRUE(
      store_->SetTag({.name = "prod", .trial_id = b, .actor = "user:bob", .time_ms = 5}).ok());
  auto tags = store_->ListTags().value();
  ASSERT_EQ(tags.size(), 2u);  // by name
  EXPECT_EQ(tags[0].name, "best");
  EXPECT_EQ(tags[0].trial_id, a);
  EXPECT_EQ(tags[0].time_ms, 1'900'000'000'000);
  EXPECT_EQ(tags[1].name, "prod");
  EXPECT_EQ(tags[1].trial_id, b);
  EXPECT_EQ(tags[1].actor, "user:bob");
  EXPECT_EQ(tags[1].time_ms, 5);

  auto moved = store_->ReadEvents({.trial_id = b}).value();
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0].kind, "adapter.tagged");
  EXPECT_EQ(moved[0].detail, "tag prod (moved from " + a + ")");
  EXPECT_EQ(moved[0].actor, "user:bob");
  EXPECT_EQ(moved[0].time_ms, 5);
  EXPECT_EQ(store_->ReadEvents({.trial_id = a})->at(0).detail, "tag prod");

  EXPECT_EQ(store_->SetTag({.name = "x", .trial_id = "nope"}).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->SetTag({.name = "", .trial_id = a}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListTags()->size(), 2u);
}

TEST_P(MetricsAdaptersTest, AnAdapterFileOfTheSameNameIsReplaced) {
  SweepRecord s = AddSweep(1);
  std::string a = MakeTrialId(s.id, 0);
  ASSERT_TRUE(store_->PutAdapterFile(a, "adapter_model.safetensors", "old", "w").ok());
  clock_.AdvanceMillis(7);
  auto info = store_->PutAdapterFile(a, "adapter_model.safetensors", "newer", "w");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->trial_id, a);
  EXPECT_EQ(info->stored_ms, clock_.NowMillis());
  EXPECT_EQ(*store_->GetAdapterFile(a, "adapter_model.safetensors"), "newer");
  auto files = store_->ListAdapterFiles(a).value();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].size, 5u);
  EXPECT_EQ(files[0].sha256, Sha256Hex("newer"));
  EXPECT_EQ(files[0].stored_ms, clock_.NowMillis());
  auto events = store_->ReadEvents({.trial_id = a}).value();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].detail,
            "adapter_model.safetensors (5 bytes, sha256 " + Sha256Hex("newer") + ")");
  EXPECT_EQ(events[1].sweep_id, s.id);
}

// Overwrites the stored adapter value behind the store's back, then checks that reading it is a
// DataLoss error and never returns the corrupt bytes.
TEST_F(RocksDbStoreTest, CorruptAdapterIsReportedNeverReturned) {
  SweepRecord s = AddSweep(1);
  std::string a = MakeTrialId(s.id, 0);
  std::string content(100'000, 'w');
  ASSERT_TRUE(store_->PutAdapterFile(a, "adapter_model.safetensors", content, "w").ok());
  store_.reset();
  {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_, &names).ok());
    rocksdb::ColumnFamilyOptions blob_options;
    blob_options.enable_blob_files = true;
    for (auto& n : names) cfs.emplace_back(n, n == "adapters" ? blob_options : rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir_, cfs, &handles, &raw).ok());
    size_t adapters = std::find(names.begin(), names.end(), "adapters") - names.begin();
    std::string key = codec::AdapterKey(a, "adapter_model.safetensors");
    std::string value;
    ASSERT_TRUE(raw->Get(rocksdb::ReadOptions(), handles[adapters], key, &value).ok());
    value[value.size() / 2] ^= 0x01;  // one flipped bit in the content
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), handles[adapters], key, value).ok());
    std::string truncated_key = codec::AdapterKey(a, "short");
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), handles[adapters], truncated_key, "LFA").ok());
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  Reopen();
  Result<std::string> r = store_->GetAdapterFile(a, "adapter_model.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("sha256"), std::string::npos);
  EXPECT_NE(r.status().message().find(a), std::string::npos);
  EXPECT_EQ(store_->GetAdapterFile(a, "short").status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace lf::store
