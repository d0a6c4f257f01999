#include "coordinator/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <utility>

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
  EXPECT_EQ(s_.RemoveWorker("w"), (std::vector<std::string>{"a-0"}));
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
  EXPECT_TRUE(s_.FindWorker("h/2")->trials.empty());
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
  EXPECT_TRUE(s_.FindWorker("h/2")->trials.empty());
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
  EXPECT_EQ(s_.RemoveWorker("h/1"), (std::vector<std::string>{"a-0"}));
  EXPECT_TRUE(s_.Holders("a-0").empty());
  EXPECT_TRUE(s_.FindWorker("h/0")->trials.empty());
  EXPECT_TRUE(s_.FindWorker("h/2")->trials.empty());
  EXPECT_EQ(s_.RunningInSweep("a"), 0);
}

// ---- packs --------------------------------------------------------------------------------

constexpr int64_t kGiB = 1LL << 30;

class PackSchedulerTest : public SchedulerTest {
 protected:
  void AddPacker(const std::string& id, int32_t pack_limit, int64_t memory = kGiB) {
    s_.UpsertWorker({.id = id, .memory_bytes = memory, .pack_limit = pack_limit});
  }
  QueuedTrial Trial(const std::string& sweep, int index, const std::string& key, int64_t memory = 0,
                    int64_t shared = 0, uint64_t ordinal = 0, int32_t ranks = 1) {
    return {.trial_id = sweep + "-" + std::to_string(index),
            .sweep_id = sweep,
            .order = (ordinal << 32) | static_cast<uint64_t>(index),
            .memory_bytes = memory,
            .shared_bytes = shared,
            .ranks = ranks,
            .pack_key = key};
  }
  void QueueKeyed(const std::string& sweep, int index, const std::string& key, int64_t memory = 0,
                  int64_t shared = 0, uint64_t ordinal = 0, int32_t ranks = 1) {
    s_.Enqueue(Trial(sweep, index, key, memory, shared, ordinal, ranks));
  }
  // (trial, worker or gang rank 0) for one Place call, in placement order.
  using Placed = std::vector<std::pair<std::string, std::string>>;
  Placed PlaceOn(int64_t now = 0) {
    Placed out;
    for (const auto& p : s_.Place(now)) out.emplace_back(p.trial.trial_id, p.worker_id);
    return out;
  }
  std::vector<std::string> TrialsOn(const std::string& worker_id) {
    return s_.FindWorker(worker_id)->trials;
  }
};

TEST_F(PackSchedulerTest, IdleWorkersFillFirstThenPacksTakeTrialsUpToTheirLimit) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w1", 3);
  AddPacker("w2", 3);
  for (int i = 0; i < 7; ++i) QueueKeyed("a", i, "k");
  EXPECT_EQ(PlaceOn(), (Placed{{"a-0", "w1"},
                               {"a-1", "w2"},
                               {"a-2", "w1"},
                               {"a-3", "w2"},
                               {"a-4", "w1"},
                               {"a-5", "w2"}}));
  EXPECT_TRUE(s_.IsQueued("a-6"));  // both packs are full
  EXPECT_EQ(TrialsOn("w1"), (std::vector<std::string>{"a-0", "a-2", "a-4"}));
  EXPECT_EQ(s_.FindWorker("w1")->pack_key, "k");
  EXPECT_EQ(s_.Holder("a-2"), s_.FindWorker("w1"));
  EXPECT_EQ(s_.Holders("a-2"), (std::vector<std::string>{"w1"}));
  EXPECT_EQ(s_.RunningInSweep("a"), 6);
  // A pack with room does not take the trial while an idle worker can run it alone.
  s_.Release("a-0");
  AddPacker("w3", 3);
  EXPECT_EQ(PlaceOn(), (Placed{{"a-6", "w3"}}));
  EXPECT_EQ(TrialsOn("w1"), (std::vector<std::string>{"a-2", "a-4"}));
}

TEST_F(PackSchedulerTest, AJoiningTrialGoesToThePackWithTheFewestTrialsThenTheLowestId) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w1", 3);
  AddPacker("w2", 3);
  for (int i = 0; i < 6; ++i) QueueKeyed("a", i, "k");
  ASSERT_EQ(PlaceOn().size(), 6u);
  s_.Release("a-1");
  s_.Release("a-3");  // w2 keeps a-5 alone
  s_.Release("a-2");  // w1 keeps a-0 and a-4
  for (int i = 6; i < 9; ++i) QueueKeyed("a", i, "k");
  EXPECT_EQ(PlaceOn(), (Placed{{"a-6", "w2"}, {"a-7", "w1"}, {"a-8", "w2"}}));
}

TEST_F(PackSchedulerTest, TrialsOfDifferentKeysNeverShareAWorker) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w1", 4);
  AddPacker("w2", 4);
  QueueKeyed("a", 0, "x");
  QueueKeyed("a", 1, "y");
  QueueKeyed("a", 2, "x");
  QueueKeyed("a", 3, "y");
  QueueKeyed("a", 4, "z");
  EXPECT_EQ(PlaceOn(), (Placed{{"a-0", "w1"}, {"a-1", "w2"}, {"a-2", "w1"}, {"a-3", "w2"}}));
  EXPECT_TRUE(s_.IsQueued("a-4"));
  EXPECT_EQ(s_.FindWorker("w2")->pack_key, "y");
}

TEST_F(PackSchedulerTest, ATrialWithoutAKeyTrainsAlone) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w1", 4);
  AddPacker("w2", 4);
  QueueKeyed("a", 0, "");
  QueueKeyed("a", 1, "k");
  QueueKeyed("a", 2, "");
  QueueKeyed("a", 3, "k");
  // a-2 neither joins w1 (which trains a-0 alone) nor w2's pack; a-3 joins w2, not w1.
  EXPECT_EQ(PlaceOn(), (Placed{{"a-0", "w1"}, {"a-1", "w2"}, {"a-3", "w2"}}));
  EXPECT_TRUE(s_.IsQueued("a-2"));
  EXPECT_EQ(s_.FindWorker("w1")->pack_key, "");
}

TEST_F(PackSchedulerTest, AGangNeverPacks) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w1", 4);
  AddPacker("w2", 4);
  AddPacker("w3", 4);
  QueueKeyed("a", 0, "k", 0, 0, 0, /*ranks=*/2);
  QueueKeyed("a", 1, "k");
  QueueKeyed("a", 2, "k");
  // The gang's members take no pack member: a-2 joins the single trial's worker.
  EXPECT_EQ(PlaceOn(), (Placed{{"a-0", "w1"}, {"a-1", "w3"}, {"a-2", "w3"}}));
  EXPECT_EQ(s_.Holders("a-0"), (std::vector<std::string>{"w1", "w2"}));
  EXPECT_EQ(s_.FindWorker("w1")->pack_key, "");
  // Nor does a gang join packs with room, though its key matches theirs.
  QueueKeyed("a", 3, "k", 0, 0, 0, /*ranks=*/2);
  EXPECT_TRUE(PlaceOn().empty());
  EXPECT_TRUE(s_.IsQueued("a-3"));
}

TEST_F(PackSchedulerTest, APackLimitOfOneTheDefaultNeverPacks) {
  s_.AddSweep("a", 0, 0, false);
  AddWorker("w");
  QueueKeyed("a", 0, "k");
  QueueKeyed("a", 1, "k");
  EXPECT_EQ(PlaceOn(), (Placed{{"a-0", "w"}}));
  EXPECT_TRUE(s_.IsQueued("a-1"));
  // A refresh that raises the limit lets the worker's pack grow.
  AddPacker("w", 2);
  EXPECT_EQ(PlaceOn(), (Placed{{"a-1", "w"}}));
}

TEST_F(PackSchedulerTest, APackTakesAsManyTrialsAsItsWorkersMemoryHolds) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w", 8, 10 * kGiB);
  // 6 GiB alone, 4 of them the shared base: 4 + 3 x 2 = 10 GiB for three, 12 for four.
  for (int i = 0; i < 4; ++i) QueueKeyed("a", i, "k", 6 * kGiB, 4 * kGiB);
  EXPECT_EQ(PlaceOn(), (Placed{{"a-0", "w"}, {"a-1", "w"}, {"a-2", "w"}}));
  EXPECT_TRUE(s_.IsQueued("a-3"));
}

TEST_F(PackSchedulerTest, ATrialTheMemoryLeftCannotHoldWaitsWhileASmallerOneJoins) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w", 8, 10 * kGiB);
  QueueKeyed("a", 0, "k", 6 * kGiB, 4 * kGiB);
  QueueKeyed("a", 1, "k", 9 * kGiB, 4 * kGiB);  // with a-0: 4 + 2 + 5 = 11 GiB
  QueueKeyed("a", 2, "k", 6 * kGiB, 4 * kGiB);  // with a-0: 4 + 2 + 2 = 8 GiB
  EXPECT_EQ(PlaceOn(), (Placed{{"a-0", "w"}, {"a-2", "w"}}));
  s_.Release("a-2");
  EXPECT_TRUE(PlaceOn().empty());  // still 11 GiB with a-0
  s_.Release("a-0");
  EXPECT_EQ(PlaceOn(), (Placed{{"a-1", "w"}}));  // alone it needs 9
}

TEST_F(PackSchedulerTest, ThePackHoldsTheLargestSharedPartOnce) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w", 4, 10 * kGiB);
  QueueKeyed("a", 0, "k", 6 * kGiB, 4 * kGiB);
  QueueKeyed("a", 1, "k", 8 * kGiB, 6 * kGiB);  // max(4, 6) + 2 + 2 = 10 GiB
  QueueKeyed("a", 2, "k", 5 * kGiB, 4 * kGiB);  // 6 + 2 + 2 + 1 = 11 GiB
  EXPECT_EQ(PlaceOn(), (Placed{{"a-0", "w"}, {"a-1", "w"}}));
  EXPECT_TRUE(s_.IsQueued("a-2"));
}

TEST_F(PackSchedulerTest, TrialsOfUnknownMemoryAreBoundOnlyByThePackLimit) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w", 4, 10 * kGiB);
  for (int i = 0; i < 3; ++i) QueueKeyed("a", i, "k", 6 * kGiB, 4 * kGiB);  // 10 GiB: full
  QueueKeyed("a", 3, "k", 0, /*shared=*/6 * kGiB);  // a base size without a total counts nothing
  QueueKeyed("a", 4, "k");
  EXPECT_EQ(PlaceOn(), (Placed{{"a-0", "w"}, {"a-1", "w"}, {"a-2", "w"}, {"a-3", "w"}}));
  EXPECT_TRUE(s_.IsQueued("a-4"));
}

TEST_F(PackSchedulerTest, ReleasingOneMemberKeepsTheWorkerBusyWithTheRest) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w", 3);
  for (int i = 0; i < 4; ++i) QueueKeyed("a", i, "k");
  ASSERT_EQ(PlaceOn(), (Placed{{"a-0", "w"}, {"a-1", "w"}, {"a-2", "w"}}));
  s_.Release("a-1");
  EXPECT_EQ(TrialsOn("w"), (std::vector<std::string>{"a-0", "a-2"}));
  EXPECT_EQ(s_.FindWorker("w")->pack_key, "k");
  EXPECT_EQ(s_.Holder("a-1"), nullptr);
  EXPECT_EQ(s_.Holder("a-0"), s_.FindWorker("w"));
  EXPECT_EQ(PlaceOn(), (Placed{{"a-3", "w"}}));  // the freed slot
  EXPECT_EQ(TrialsOn("w"), (std::vector<std::string>{"a-0", "a-2", "a-3"}));
  for (const char* id : {"a-0", "a-2", "a-3"}) s_.Release(id);
  EXPECT_TRUE(TrialsOn("w").empty());
  EXPECT_EQ(s_.FindWorker("w")->pack_key, "");
  QueueKeyed("a", 4, "");  // only an idle worker takes it
  EXPECT_EQ(PlaceOn(), (Placed{{"a-4", "w"}}));
}

TEST_F(PackSchedulerTest, RemovingAWorkerReturnsEveryTrialOfItsPack) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w", 3);
  for (int i = 0; i < 3; ++i) QueueKeyed("a", i, "k");
  ASSERT_EQ(PlaceOn().size(), 3u);
  EXPECT_EQ(s_.RemoveWorker("w"), (std::vector<std::string>{"a-0", "a-1", "a-2"}));
  EXPECT_TRUE(s_.Holders("a-1").empty());
  EXPECT_EQ(s_.RunningInSweep("a"), 0);
}

TEST_F(PackSchedulerTest, ASweepsConcurrencyLimitCountsPackedTrials) {
  s_.AddSweep("a", 0, /*max_concurrent=*/2, false);
  AddPacker("w", 4);
  for (int i = 0; i < 3; ++i) QueueKeyed("a", i, "k");
  EXPECT_EQ(PlaceOn(), (Placed{{"a-0", "w"}, {"a-1", "w"}}));
  EXPECT_EQ(s_.RunningInSweep("a"), 2);
  EXPECT_TRUE(s_.IsQueued("a-2"));
  s_.Release("a-0");
  EXPECT_EQ(PlaceOn(), (Placed{{"a-2", "w"}}));
}

TEST_F(PackSchedulerTest, AGatheringGangStopsPacksGrowingOnTheWorkersItCouldUse) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w1", 3, 4 * kGiB);
  AddPacker("w2", 3, 4 * kGiB);
  AddPacker("small", 3, 1 * kGiB);  // too small for the gang: its pack keeps growing
  for (int i = 0; i < 3; ++i) QueueKeyed("a", i, "k");
  ASSERT_EQ(PlaceOn(), (Placed{{"a-0", "small"}, {"a-1", "w1"}, {"a-2", "w2"}}));
  s_.AddSweep("g", 0, 0, false);
  QueueKeyed("g", 0, "k", 2 * kGiB, 0, /*ordinal=*/1, /*ranks=*/2);
  for (int i = 3; i < 7; ++i) QueueKeyed("a", i, "k", 0, 0, /*ordinal=*/2);  // behind the gang
  EXPECT_EQ(PlaceOn(), (Placed{{"a-3", "small"}, {"a-4", "small"}}));
  EXPECT_EQ(TrialsOn("w1"), (std::vector<std::string>{"a-1"}));
  EXPECT_EQ(TrialsOn("w2"), (std::vector<std::string>{"a-2"}));
  s_.Release("a-1");
  EXPECT_TRUE(PlaceOn().empty());  // w1 is kept for the gang, w2 drains
  EXPECT_TRUE(TrialsOn("w1").empty());
  s_.Release("a-2");
  EXPECT_EQ(PlaceOn(), (Placed{{"g-0", "w1"}}));
  EXPECT_EQ(s_.Holders("g-0"), (std::vector<std::string>{"w1", "w2"}));
  s_.Release("g-0");
  EXPECT_EQ(PlaceOn(), (Placed{{"a-5", "w1"}, {"a-6", "w2"}}));
}

TEST_F(PackSchedulerTest, LeaseRecoversAPackAsTheWorkerReportsIt) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("w", 2);
  for (int i = 0; i < 3; ++i) s_.Lease(Trial("a", i, "k"), "w");  // past its limit, as reported
  EXPECT_EQ(TrialsOn("w"), (std::vector<std::string>{"a-0", "a-1", "a-2"}));
  EXPECT_EQ(s_.FindWorker("w")->pack_key, "k");
  EXPECT_EQ(s_.RunningInSweep("a"), 3);
  QueueKeyed("a", 3, "k");
  EXPECT_TRUE(PlaceOn().empty());
}

using PackSchedulerDeathTest = PackSchedulerTest;

TEST_F(PackSchedulerDeathTest, ALeaseThatDoesNotFitThePackAborts) {
  s_.AddSweep("a", 0, 0, false);
  AddPacker("v", 4);
  AddPacker("w", 4);
  s_.Lease(Trial("a", 0, "k"), "w");
  EXPECT_DEATH(s_.Lease(Trial("a", 1, "x"), "w"), "cannot join worker w, which holds a-0");
  EXPECT_DEATH(s_.Lease(Trial("a", 1, ""), "w"), "cannot join worker w");
  EXPECT_DEATH(s_.Lease(Trial("a", 1, "k", 0, 0, 0, /*ranks=*/2), "w"), "cannot join worker w");
  EXPECT_DEATH(s_.LeaseGang(Trial("a", 1, "k", 0, 0, 0, /*ranks=*/2), {"v", "w"}),
               "worker w already holds a-0");
}

}  // namespace
}  // namespace lf::coordinator
