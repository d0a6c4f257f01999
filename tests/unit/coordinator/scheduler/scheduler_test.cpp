#include "coordinator/scheduler/scheduler.h"

#include <gtest/gtest.h>

namespace lf::coordinator {
namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  void AddWorker(const std::string& id, int64_t memory = 1 << 30) {
    s_.UpsertWorker({.id = id, .memory_bytes = memory, .last_seen_ms = 0});
  }
  void Queue(const std::string& sweep, int index, uint64_t sweep_ordinal = 0,
             int64_t memory = 0, int64_t not_before = 0) {
    s_.Enqueue({.trial_id = sweep + "-" + std::to_string(index),
                .sweep_id = sweep,
                .order = (sweep_ordinal << 32) | static_cast<uint64_t>(index),
                .memory_bytes = memory,
                .not_before_ms = not_before});
  }
  std::vector<std::string> PlacedTrials(int64_t now = 0) {
    std::vector<std::string> out;
    for (const auto& p : s_.Place(now)) out.push_back(p.trial.trial_id);
    return out;
  }
  Scheduler s_;
};

TEST_F(SchedulerTest, HigherPriorityFirstThenSubmissionOrder) {
  s_.AddSweep("a", /*priority=*/0, 0, false);
  s_.AddSweep("b", /*priority=*/5, 0, false);
  Queue("a", 0, 0);
  Queue("a", 1, 0);
  Queue("b", 0, 1);
  Queue("b", 1, 1);
  AddWorker("w1");
  AddWorker("w2");
  AddWorker("w3");
  EXPECT_EQ(PlacedTrials(), (std::vector<std::string>{"b-0", "b-1", "a-0"}));
  EXPECT_EQ(s_.queued_count(), 1u);
  // Nothing more without an idle worker.
  EXPECT_TRUE(PlacedTrials().empty());
  s_.Release("b-0");
  EXPECT_EQ(PlacedTrials(), (std::vector<std::string>{"a-1"}));
}

TEST_F(SchedulerTest, ChangingPriorityReordersQueuedTrials) {
  s_.AddSweep("a", 0, 0, false);
  s_.AddSweep("b", 0, 0, false);
  Queue("a", 0, 0);
  Queue("b", 0, 1);
  s_.SetPriority("b", 10);
  AddWorker("w1");
  EXPECT_EQ(PlacedTrials(), (std::vector<std::string>{"b-0"}));
}

TEST_F(SchedulerTest, PausedSweepsAreSkippedUntilResumed) {
  s_.AddSweep("a", 10, 0, /*paused=*/true);
  s_.AddSweep("b", 0, 0, false);
  Queue("a", 0, 0);
  Queue("b", 0, 1);
  AddWorker("w1");
  AddWorker("w2");
  EXPECT_EQ(PlacedTrials(), (std::vector<std::string>{"b-0"}));
  s_.SetPaused("a", false);
  EXPECT_EQ(PlacedTrials(), (std::vector<std::string>{"a-0"}));
}

TEST_F(SchedulerTest, ConcurrencyLimitHoldsBackASweepAndReleasesItWhenATrialEnds) {
  s_.AddSweep("a", 10, /*max_concurrent=*/1, false);
  s_.AddSweep("b", 0, 0, false);
  for (int i = 0; i < 3; ++i) Queue("a", i, 0);
  Queue("b", 0, 1);
  AddWorker("w1");
  AddWorker("w2");
  AddWorker("w3");
  EXPECT_EQ(PlacedTrials(), (std::vector<std::string>{"a-0", "b-0"}));
  EXPECT_EQ(s_.RunningInSweep("a"), 1);
  s_.Release("a-0");
  EXPECT_EQ(PlacedTrials(), (std::vector<std::string>{"a-1"}));
}

TEST_F(SchedulerTest, ATrialGoesOnlyToAWorkerWithEnoughMemory) {
  s_.AddSweep("a", 0, 0, false);
  Queue("a", 0, 0, /*memory=*/8LL << 30);
  Queue("a", 1, 0, /*memory=*/1LL << 30);
  AddWorker("small", 2LL << 30);
  auto placed = s_.Place(0);
  ASSERT_EQ(placed.size(), 1u);
  EXPECT_EQ(placed[0].trial.trial_id, "a-1");  // the big one waits, the small one fits
  AddWorker("big", 16LL << 30);
  placed = s_.Place(0);
  ASSERT_EQ(placed.size(), 1u);
  EXPECT_EQ(placed[0].trial.trial_id, "a-0");
  EXPECT_EQ(placed[0].worker_id, "big");
}

TEST_F(SchedulerTest, RetriesWaitForTheirBackOff) {
  s_.AddSweep("a", 0, 0, false);
  Queue("a", 0, 0, 0, /*not_before=*/5000);
  Queue("a", 1, 0);
  AddWorker("w1");
  AddWorker("w2");
  EXPECT_EQ(PlacedTrials(1000), (std::vector<std::string>{"a-1"}));
  EXPECT_EQ(s_.NextRetryMs(), 5000);
  EXPECT_TRUE(PlacedTrials(4999).empty());
  EXPECT_EQ(PlacedTrials(5000), (std::vector<std::string>{"a-0"}));
  EXPECT_FALSE(s_.NextRetryMs().has_value());
}

TEST_F(SchedulerTest, DequeueRemovesReadyParkedAndBackingOffTrials) {
  s_.AddSweep("a", 0, 0, false);
  s_.AddSweep("p", 0, 0, true);
  Queue("a", 0, 0);
  Queue("a", 1, 0, 0, 9000);
  Queue("p", 0, 1);
  EXPECT_TRUE(s_.Dequeue("a-0"));
  EXPECT_TRUE(s_.Dequeue("a-1"));
  EXPECT_TRUE(s_.Dequeue("p-0"));
  EXPECT_FALSE(s_.Dequeue("a-0"));
  EXPECT_EQ(s_.queued_count(), 0u);
  AddWorker("w");
  EXPECT_TRUE(PlacedTrials(10000).empty());
}

TEST_F(SchedulerTest, RemovingAWorkerReturnsTheTrialItHeld) {
  s_.AddSweep("a", 0, 1, false);
  Queue("a", 0, 0);
  Queue("a", 1, 0);
  AddWorker("w");
  ASSERT_EQ(PlacedTrials(), (std::vector<std::string>{"a-0"}));
  EXPECT_EQ(s_.Holder("a-0")->id, "w");
  EXPECT_EQ(s_.RemoveWorker("w"), "a-0");
  EXPECT_EQ(s_.Holder("a-0"), nullptr);
  EXPECT_EQ(s_.RunningInSweep("a"), 0);  // the concurrency slot is free again
  AddWorker("w2");
  EXPECT_EQ(PlacedTrials(), (std::vector<std::string>{"a-1"}));
}

TEST_F(SchedulerTest, SilentWorkersAreThoseNotSeenSinceTheDeadline) {
  s_.UpsertWorker({.id = "old", .last_seen_ms = 100});
  s_.UpsertWorker({.id = "new", .last_seen_ms = 900});
  EXPECT_EQ(s_.SilentWorkers(500), (std::vector<std::string>{"old"}));
  s_.UpsertWorker({.id = "old", .last_seen_ms = 1000});  // a heartbeat refreshes it
  EXPECT_TRUE(s_.SilentWorkers(500).empty());
}

TEST_F(SchedulerTest, QueueSnapshotListsReadyTrialsInDispatchOrderThenTheRest) {
  s_.AddSweep("a", 0, 0, false);
  s_.AddSweep("b", 3, 0, true);
  Queue("a", 1, 0);
  Queue("a", 0, 0);
  Queue("b", 0, 1);
  auto snapshot = s_.QueueSnapshot();
  ASSERT_EQ(snapshot.size(), 3u);
  EXPECT_EQ(snapshot[0].trial_id, "a-0");
  EXPECT_EQ(snapshot[1].trial_id, "a-1");
  EXPECT_EQ(snapshot[2].trial_id, "b-0");
}

TEST_F(SchedulerTest, DispatchStaysCheapWithAHundredThousandQueued) {
  s_.AddSweep("big", 0, 0, false);
  for (int i = 0; i < 100000; ++i) Queue("big", i, 0);
  for (int w = 0; w < 64; ++w) AddWorker("w" + std::to_string(w));
  size_t placed = 0;
  for (int round = 0; round < 100; ++round) {
    auto batch = s_.Place(0);
    placed += batch.size();
    for (const auto& p : batch) s_.Release(p.trial.trial_id);
  }
  EXPECT_EQ(placed, 6400u);
  EXPECT_EQ(s_.queued_count(), 100000u - 6400u);
}

}  // namespace
}  // namespace lf::coordinator
