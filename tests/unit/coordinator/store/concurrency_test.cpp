#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store_test_util.h"

namespace lf::store {
namespace {

using jobs::TrialState;
// Every test here runs against the RocksDB and the in-memory store.
class ConcurrencyTest : public testing::StoreTest {};
INSTANTIATE_TEST_SUITE_P(Stores, ConcurrencyTest, testing::EveryStore(), testing::StoreKindName);

TEST_P(ConcurrencyTest, RacingWritersExactlyOneWinsEachCompareAndSet) {
  constexpr int kTrials = 50;
  constexpr int kThreads = 6;
  SweepRecord s = AddSweep(kTrials);
  std::atomic<int> wins{0}, conflicts{0}, other{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kTrials; ++i) {
        TransitionRequest r = Move(MakeTrialId(s.id, i), TrialState::kQueued, TrialState::kAssigned);
        r.worker = "host/" + std::to_string(w);
        auto result = store_->TransitionTrial(r);
        if (result.ok()) {
          ++wins;
        } else if (result.status().code() == StatusCode::kConflict) {
          ++conflicts;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), kTrials);
  EXPECT_EQ(conflicts.load(), kTrials * (kThreads - 1));
  EXPECT_EQ(other.load(), 0);
  auto trials = store_->ListTrials({.sweep_id = s.id}).value();
  for (const TrialRecord& t : trials) {
    EXPECT_EQ(t.state, TrialState::kAssigned);
    EXPECT_EQ(t.attempt, 1u);
    EXPECT_EQ(t.version, 2u);
  }
  // One creation event plus one per winning transition, numbered without gaps.
  auto events = store_->ReadEvents({.limit = 10'000}).value();
  ASSERT_EQ(events.size(), static_cast<size_t>(kTrials + 1));
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq, i + 1);
}

TEST_P(ConcurrencyTest, MetricsFromManyThreadsAllLandBesideTransitions) {
  constexpr int kThreads = 4;
  constexpr int kSteps = 500;
  SweepRecord s = AddSweep(kThreads);
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      std::string trial = MakeTrialId(s.id, w);
      ASSERT_TRUE(store_->TransitionTrial(Move(trial, TrialState::kQueued, TrialState::kAssigned)).ok());
      ASSERT_TRUE(store_->TransitionTrial(Move(trial, TrialState::kAssigned, TrialState::kRunning)).ok());
      for (int step = 0; step < kSteps; step += 10) {
        std::vector<MetricPoint> batch;
        for (int k = 0; k < 10; ++k) batch.push_back({step + k, "loss", 1.0 / (step + k + 1), 1});
        ASSERT_TRUE(store_->AppendMetrics(trial, batch).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int w = 0; w < kThreads; ++w) {
    auto points = store_->ReadMetrics(MakeTrialId(s.id, w), {}).value();
    ASSERT_EQ(points.size(), static_cast<size_t>(kSteps));
    for (int i = 0; i < kSteps; ++i) EXPECT_EQ(points[i].step, i);
  }
}

}  // namespace
}  // namespace lf::store
