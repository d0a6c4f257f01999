// What one submission may add to: trials per sweep, the sweep's size before it is expanded,
// unfinished trials per owner and in total, stored adapter bytes. A refused sweep stores nothing
// and names the limit and the flag that sets it. And what one view may cost.
#include <gtest/gtest.h>

#include <filesystem>

#include "coordinator/coordinator.h"
#include "coordinator/store/memory_store.h"
#include "recording_sink.h"
#include "store/store_test_util.h"

namespace lf::coordinator {
namespace {

const std::string kRepo = std::string(LF_TEST_SRCDIR) + "/../../..";

using testing::RecordingSink;

std::string SweepYaml(int trials, const std::string& base_extra = "") {
  return "name: q\nbase:\n  base_model: examples/models/tiny-gpt2\n"
         "  data: {train: examples/data/medical/train.jsonl}\n"
         "  train: {steps: 10}\n" + base_extra + "space:\n  train.seed: [" +
         [trials] {
           std::string list;
           for (int i = 0; i < trials; ++i) list += (i ? ", " : "") + std::to_string(i + 1);
           return list;
         }() + "]\n";
}

class LimitsTest : public ::testing::Test {
 protected:
  void Start(CoordinatorOptions::Quotas quotas) {
    dir_ = store::testing::FreshDir("quotas");
    std::filesystem::create_directories(dir_);
    store_ = store::NewMemoryStore(&clock_);
    auto created = Coordinator::Create(*store_, sink_, clock_,
                                       {.runs_dir = dir_ + "/runs", .quotas = quotas});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    coordinator_ = std::move(created).value();
  }
  Result<Json> Submit(const std::string& yaml, const std::string& owner) {
    return coordinator_->Submit({.spec = yaml, .base_dir = kRepo, .owner = owner});
  }
  size_t StoredSweeps() { return store_->ListSweeps()->size(); }

  std::string dir_;
  FakeClock clock_;
  RecordingSink sink_;
  std::unique_ptr<store::ExperimentStore> store_;
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(LimitsTest, UnfinishedTrialsAreCountedPerOwnerAndInTotal) {
  Start({.unfinished_per_owner = 5, .unfinished_total = 8});
  ASSERT_TRUE(Submit(SweepYaml(3), "alice").ok());
  Result<Json> refused = Submit(SweepYaml(3), "alice");  // 3 + 3 > 5
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("its 3 trials and the 3 unfinished trials of owner "
                                            "'alice' are more than the 5"),
            std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("--quota-trials-per-owner"), std::string::npos);
  EXPECT_EQ(StoredSweeps(), 1u) << "a refused sweep was stored";
  ASSERT_TRUE(Submit(SweepYaml(2), "alice").ok());  // exactly 5
  ASSERT_TRUE(Submit(SweepYaml(3), "bob").ok());    // 8 in all
  refused = Submit(SweepYaml(1), "carol");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("the fleet's 8 unfinished trials are more than its "
                                            "limit of 8 (--quota-trials)"),
            std::string::npos)
      << refused.status().message();
  EXPECT_EQ(StoredSweeps(), 3u);
}

TEST_F(LimitsTest, FinishedTrialsFreeTheQuota) {
  Start({.unfinished_per_owner = 2});
  const std::string sweep = (*Submit(SweepYaml(2), "alice"))["sweep"]["id"];
  ASSERT_FALSE(Submit(SweepYaml(1), "alice").ok());
  ASSERT_TRUE(coordinator_->CancelSweep(sweep, "user:alice").ok());
  coordinator_->Flush();
  EXPECT_TRUE(Submit(SweepYaml(1), "alice").ok());
}

TEST_F(LimitsTest, ASweepTooLargeIsRefusedBeforeItIsExpanded) {
  Start({.trials_per_sweep = 4, .sweep_bytes = 64 << 10});
  Result<Json> many = Submit(SweepYaml(5), "alice");
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.status().field(), "sweep");
  EXPECT_NE(many.status().message().find("5 trials (a grid of 5 times num_samples 1) are more "
                                         "than the limit of 4"),
            std::string::npos)
      << many.status().message();
  // 3 trials of a 30 KB value each: about 90 KB of job documents against 64 KiB.
  Result<Json> big =
      Submit(SweepYaml(3, "  lora: {target_modules: [" + std::string(30000, 'x') + "]}\n"), "alice");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("KiB of job documents, more than the limit of 64 KiB"),
            std::string::npos)
      << big.status().message();
  EXPECT_EQ(StoredSweeps(), 0u);
  EXPECT_TRUE(Submit(SweepYaml(2), "alice").ok());
}

TEST_F(LimitsTest, StoredAdapterBytesStopAnOwnersNewSweeps) {
  Start({.adapter_bytes_per_owner = 1000});
  ASSERT_TRUE(Submit(SweepYaml(1), "alice").ok());
  coordinator_->OnMessage("w1", protocol::Hello{.worker_id = "w1", .host = "h", .device = "cpu",
                                                .memory_bytes = int64_t{1} << 33});
  coordinator_->Flush();
  const std::vector<protocol::Assign> assigned = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(assigned.size(), 1u);
  const protocol::Assign* assign = &assigned[0];
  jobs::TrialResult result{.eval_loss = 1.0, .adapter_bytes = 1500};
  result.job = assign->job;
  coordinator_->OnMessage("w1", protocol::Done{.trial_id = assign->trial_id,
                                               .attempt = assign->attempt,
                                               .result = result,
                                               .files = {{"adapter_model.safetensors", "w"},
                                                         {"result.json", "{}"}}});
  coordinator_->Flush();
  Result<Json> refused = Submit(SweepYaml(1), "alice");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("owner 'alice' already stores"), std::string::npos)
      << refused.status().message();
  EXPECT_TRUE(Submit(SweepYaml(1), "bob").ok()) << "another owner's quota was used";
}

TEST_F(LimitsTest, ViewsCostWhatTheyReturnNotWhatTheyAreAskedForTwice) {
  Start({});
  const std::string a = (*Submit(SweepYaml(3), "alice"))["sweep"]["id"];
  Result<Json> once = coordinator_->CompareView(std::vector<std::string>(1000, a));
  ASSERT_TRUE(once.ok()) << once.status().ToString();
  EXPECT_EQ((*once)["sweeps"].size(), 1u);
  EXPECT_EQ((*once)["rows"].size(), 3u);
  std::vector<std::string> many;
  for (int i = 0; i < 65; ++i) many.push_back("sweep-" + std::to_string(i));
  Result<Json> refused = coordinator_->CompareView(many);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().field(), "sweeps");
  EXPECT_NE(refused.status().message().find("compare at most 64"), std::string::npos);

  Result<Json> two = coordinator_->TrialsView(a, {}, 2);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ((*two)["trials"].size(), 2u);
  EXPECT_TRUE((*two)["truncated"].get<bool>());
  EXPECT_FALSE((*coordinator_->TrialsView(a, {}, 3))["truncated"].get<bool>());
}

}  // namespace
}  // namespace lf::coordinator
