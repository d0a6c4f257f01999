#include "coordinator/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

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


// ---- gangs --------------------------------------------------------------------------------

class GangSchedulerTest : public SchedulerTest {
 protected:
  void AddRank(const std::string& host, int32_t rank) {
    s_.UpsertWorker({.id = host + "/" + std::to_string(rank), .rank = rank, .host = host,
                     .memory_bytes = 1 << 30});
  }
  void QueueGang(const std::string& sweep, int index, int32_t ranks, uint64_t ordinal = 0) {
    s_.Enqueue({.trial_id = sweep + "-" + std::to_string(index),
                .sweep_id = sweep,
                .order = (ordinal << 32) | static_cast<uint64_t>(index),
                .ranks = ranks});
  }
  // trial -> its workers, for one Place call.
  std::map<std::string, std::vector<std::string>> PlaceGangs(int64_t now = 0) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& p : s_.Place(now)) {
      out[p.trial.trial_id] = p.gang.empty() ? std::vector<std::string>{p.worker_id} : p.gang;
      EXPECT_EQ(p.worker_id, out[p.trial.trial_id].front());
    }
    return out;
  }
};

TEST_F(GangSchedulerTest, AGangGetsAllItsRanksAtOnceOrNone) {
  s_.AddSweep("a", 0, 0, false);
  for (int r = 0; r < 3; ++r) AddRank("h", r);
  QueueGang("a", 0, 2);
  QueueGang("a", 1, 2);
  auto placed = PlaceGangs();
  EXPECT_EQ(placed, (std::map<std::string, std::vector<std::string>>{{"a-0", {"h/0", "h/1"}}}));
  // The second gang does not take the one idle rank: no partial gang holds ranks.
  EXPECT_TRUE(s_.Holders("a-1").empty());
  EXPECT_EQ(s_.FindWorker("h/2")->trial_id, "");
  EXPECT_EQ(s_.Holders("a-0"), (std::vector<std::string>{"h/0", "h/1"}));
  EXPECT_EQ(s_.Holder("a-0")->id, "h/0");
  EXPECT_EQ(s_.RunningInSweep("a"), 1);
  s_.Release("a-0");
  EXPECT_EQ(PlaceGangs(), (std::map<std::string, std::vector<std::string>>{{"a-1", {"h/0", "h/1"}}}));
}

TEST_F(GangSchedulerTest, MembersComeFromOneHostWhenOneHasEnough) {
  s_.AddSweep("a", 0, 0, false);
  for (int r = 0; r < 3; ++r) AddRank("big", r);
  for (int r = 3; r < 5; ++r) AddRank("small", r);
  QueueGang("a", 0, 2);
  QueueGang("a", 1, 3);
  // The pair takes the smallest host that fits it, leaving the 3-rank host for the 3-rank gang.
  EXPECT_EQ(PlaceGangs(), (std::map<std::string, std::vector<std::string>>{
                              {"a-0", {"small/3", "small/4"}}, {"a-1", {"big/0", "big/1", "big/2"}}}));
}

TEST_F(GangSchedulerTest, WithoutAHostLargeEnoughAGangSpansTheFewestHosts) {
  s_.AddSweep("a", 0, 0, false);
  AddRank("x", 0);
  AddRank("y", 1);
  AddRank("y", 2);
  AddRank("z", 3);
  QueueGang("a", 0, 3);
  auto placed = PlaceGangs();
  ASSERT_EQ(placed.size(), 1u);
  const auto& members = placed.at("a-0");
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0], "x/0");  // ordered by rank: x/0 is the gang's rank 0
  EXPECT_EQ(std::count_if(members.begin(), members.end(),
                          [](const std::string& m) { return m.rfind("y/", 0) == 0; }),
            2);
}

TEST_F(GangSchedulerTest, ALargeTrialGathersRanksAndIsNotStarvedBySmallOnes) {
  s_.AddSweep("small", 0, 0, false);
  s_.AddSweep("big", 0, 0, false);
  for (int r = 0; r < 4; ++r) AddRank("h", r);
  Queue("small", 0, 0);
  Queue("small", 1, 0);
  EXPECT_EQ(PlacedTrials(), (std::vector<std::string>{"small-0", "small-1"}));
  QueueGang("big", 0, 4, /*ordinal=*/1);
  for (int i = 2; i < 6; ++i) Queue("small", i, 2);  // a stream of small trials behind it
  // The 4-rank trial waits while two small ones keep two ranks busy; the two idle ranks are
  // kept for it rather than given to the small trials queued after it.
  EXPECT_TRUE(PlaceGangs().empty());
  EXPECT_EQ(s_.FindWorker("h/2")->trial_id, "");
  s_.Release("small-0");
  EXPECT_TRUE(PlaceGangs().empty());  // three of four
  s_.Release("small-1");
  EXPECT_EQ(PlaceGangs(), (std::map<std::string, std::vector<std::string>>{
                              {"big-0", {"h/0", "h/1", "h/2", "h/3"}}}));
  s_.Release("big-0");
  EXPECT_EQ(PlacedTrials(), (std::vector<std::string>{"small-2", "small-3", "small-4", "small-5"}));
}

TEST_F(GangSchedulerTest, AGangLargerThanTheFleetKeepsNothingAndWaits) {
  s_.AddSweep("a", 0, 0, false);
  AddRank("h", 0);
  AddRank("h", 1);
  QueueGang("a", 0, 3);
  Queue("a", 1, 0);
  EXPECT_EQ(PlacedTrials(), (std::vector<std::string>{"a-1"}));
  EXPECT_TRUE(s_.IsQueued("a-0"));
}

TEST_F(GangSchedulerTest, LosingOneMemberReleasesTheWholeGang) {
  s_.AddSweep("a", 0, 0, false);
  for (int r = 0; r < 3; ++r) AddRank("h", r);
  QueueGang("a", 0, 3);
  ASSERT_EQ(PlaceGangs().size(), 1u);
  EXPECT_EQ(s_.RemoveWorker("h/1"), "a-0");
  EXPECT_TRUE(s_.Holders("a-0").empty());
  EXPECT_EQ(s_.FindWorker("h/0")->trial_id, "");
  EXPECT_EQ(s_.FindWorker("h/2")->trial_id, "");
  EXPECT_EQ(s_.RunningInSweep("a"), 0);
}

}  // namespace
}  // namespace lf::coordinator
