#include <gtest/gtest.h>

#include "store_test_util.h"

namespace lf::store {
namespace {

// Every test here runs against the RocksDB and the in-memory store.
class SweepsTest : public testing::StoreTest {};
INSTANTIATE_TEST_SUITE_P(Stores, SweepsTest, testing::EveryStore(), testing::StoreKindName);

TEST_P(SweepsTest, SweepAndTrialsAreStoredTogetherAndSurviveReopen) {
  clock_.SetMillis(1'800'000'000'000);
  SweepRecord s = AddSweep(5);
  Reopen();
  Result<SweepRecord> got = store_->GetSweep(s.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->name, "s");
  EXPECT_EQ(got->owner, "alice");
  EXPECT_EQ(got->spec, "base: {}\n");
  EXPECT_EQ(got->trial_count, 5u);
  EXPECT_EQ(got->created_ms, 1'800'000'000'000);
  EXPECT_EQ(got->version, 1u);
  auto trials = store_->ListTrials({.sweep_id = s.id}).value();
  ASSERT_EQ(trials.size(), 5u);
  for (uint32_t i = 0; i < 5; ++i) {
    EXPECT_EQ(trials[i].index, i);
    EXPECT_EQ(trials[i].state, jobs::TrialState::kQueued);
    EXPECT_EQ(trials[i].attempt, 0u);
  }
  EXPECT_EQ(trials[3].config, "{\"lora\":{\"r\":8}}");
}

TEST_P(SweepsTest, SweepInsertIsAtomicWhenAnyPartIsRejected) {
  SweepRecord s = testing::MakeSweep(ids_, 3);
  auto trials = testing::MakeTrials(s);
  trials[2].state = jobs::TrialState::kRunning;  // invalid: new trials start queued
  Status st = store_->CreateSweep(s, trials, "user:alice");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetSweep(s.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->ListTrials({.sweep_id = s.id})->empty());

  trials = testing::MakeTrials(s);
  trials[1].id = MakeTrialId(ids_.NextSweepId(), 1);  // belongs to another sweep
  EXPECT_EQ(store_->CreateSweep(s, trials, "u").code(), StatusCode::kInvalidArgument);
  s.trial_count = 4;  // disagrees with the trials given
  EXPECT_EQ(store_->CreateSweep(s, testing::MakeTrials(testing::MakeSweep(ids_, 3)), "u").code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->ListSweeps()->empty());
  EXPECT_TRUE(store_->ReadEvents({})->empty());
}

TEST_P(SweepsTest, TrialsAddedToARunningSweepContinueItsIndicesAndSurviveReopen) {
  SweepRecord s = AddSweep(2);
  TrialRecord next{.id = MakeTrialId(s.id, 2), .sweep_id = s.id, .index = 2, .config = "{}"};
  ASSERT_TRUE(store_->AddTrials(s.id, {next}, "scheduler").ok());
  Reopen();
  EXPECT_EQ(store_->GetSweep(s.id)->trial_count, 3u);
  EXPECT_EQ(store_->GetSweep(s.id)->version, 2u);
  auto added = store_->GetTrial(next.id);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->state, jobs::TrialState::kQueued);
  EXPECT_EQ(store_->ReadEvents({})->back().kind, "sweep.trials_added");
  EXPECT_EQ(store_->ReadEvents({})->back().detail, next.id);
  // An index that does not come next, a trial of another sweep, one not queued: refused whole.
  TrialRecord skip{.id = MakeTrialId(s.id, 4), .sweep_id = s.id, .index = 4};
  EXPECT_EQ(store_->AddTrials(s.id, {skip}, "scheduler").code(), StatusCode::kInvalidArgument);
  TrialRecord running{.id = MakeTrialId(s.id, 3), .sweep_id = s.id, .index = 3,
                      .state = jobs::TrialState::kRunning};
  TrialRecord fine{.id = MakeTrialId(s.id, 3), .sweep_id = s.id, .index = 3};
  EXPECT_EQ(store_->AddTrials(s.id, {running}, "scheduler").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AddTrials("nope", {fine}, "scheduler").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetSweep(s.id)->trial_count, 3u);
  EXPECT_EQ(store_->GetTrial(fine.id).status().code(), StatusCode::kNotFound);
  // A finished sweep takes no more.
  ASSERT_TRUE(store_->UpdateSweep(s.id, {.state = jobs::SweepState::kCancelled}).ok());
  EXPECT_EQ(store_->AddTrials(s.id, {fine}, "scheduler").code(), StatusCode::kFailedPrecondition);
}

TEST_P(SweepsTest, DuplicateSweepIsRefusedAndChangesNothing) {
  SweepRecord s = AddSweep(2);
  ASSERT_TRUE(store_->TransitionTrial(Move(MakeTrialId(s.id, 0), jobs::TrialState::kQueued,
                                           jobs::TrialState::kAssigned))
                  .ok());
  Status again = store_->CreateSweep(s, testing::MakeTrials(s), "user:bob");
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->GetTrial(MakeTrialId(s.id, 0))->state, jobs::TrialState::kAssigned);
}

TEST_P(SweepsTest, SweepsListOldestFirst) {
  SweepRecord a = AddSweep(1);
  clock_.AdvanceMillis(10);
  SweepRecord b = AddSweep(1);
  clock_.AdvanceMillis(10);
  SweepRecord c = AddSweep(1);
  auto sweeps = store_->ListSweeps().value();
  ASSERT_EQ(sweeps.size(), 3u);
  EXPECT_EQ(sweeps[0].id, a.id);
  EXPECT_EQ(sweeps[1].id, b.id);
  EXPECT_EQ(sweeps[2].id, c.id);
}

TEST_P(SweepsTest, SweepUpdatesFollowTheLifecycleAndAreAudited) {
  SweepRecord s = AddSweep(1);
  auto paused = store_->UpdateSweep(
      s.id, {.state = jobs::SweepState::kPaused, .actor = "user:alice", .reason = "GPU upgrade"});
  ASSERT_TRUE(paused.ok()) << paused.status().ToString();
  EXPECT_EQ(paused->state, jobs::SweepState::kPaused);
  EXPECT_EQ(paused->version, 2u);
  auto prio = store_->UpdateSweep(s.id, {.priority = 7, .actor = "user:alice"});
  ASSERT_TRUE(prio.ok());
  EXPECT_EQ(prio->priority, 7);
  // compare-and-set guard
  auto stale = store_->UpdateSweep(s.id, {.expected_state = jobs::SweepState::kActive,
                                          .state = jobs::SweepState::kCancelled});
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict);
  ASSERT_TRUE(store_->UpdateSweep(s.id, {.state = jobs::SweepState::kCancelled}).ok());
  auto revive = store_->UpdateSweep(s.id, {.state = jobs::SweepState::kActive});
  EXPECT_EQ(revive.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(revive.status().message().find("cancelled is final"), std::string::npos);

  auto events = store_->ReadEvents({}).value();
  ASSERT_EQ(events.size(), 4u);  // created, paused, priority, cancelled
  EXPECT_EQ(events[1].kind, "sweep.updated");
  EXPECT_EQ(events[1].detail, "active -> paused: GPU upgrade");
  EXPECT_EQ(events[2].detail, "priority 0 -> 7");
  EXPECT_EQ(events[3].detail, "paused -> cancelled");
}

TEST_P(SweepsTest, AnUpdateThatChangesNothingWritesNothing) {
  SweepRecord s = AddSweep(1);
  auto same = store_->UpdateSweep(s.id, {.priority = 0, .actor = "user:alice"});
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_EQ(same->version, 1u);
  EXPECT_EQ(store_->GetSweep(s.id)->version, 1u);
  EXPECT_EQ(store_->ReadEvents({})->size(), 1u);  // only the creation
  auto both = store_->UpdateSweep(
      s.id, {.state = jobs::SweepState::kPaused, .priority = 3, .reason = "maintenance"});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(store_->ReadEvents({.after_seq = 1})->at(0).detail,
            "active -> paused; priority 0 -> 3: maintenance");
}

TEST_P(SweepsTest, UnknownIdsAreNotFound) {
  EXPECT_EQ(store_->GetSweep("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetTrial("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->UpdateSweep("nope", {.priority = 1}).status().code(), StatusCode::kNotFound);
}

TEST_P(SweepsTest, ListTrialsFiltersByState) {
  SweepRecord a = AddSweep(3);
  SweepRecord b = AddSweep(2);
  ASSERT_TRUE(store_->TransitionTrial(Move(MakeTrialId(b.id, 1), jobs::TrialState::kQueued,
                                           jobs::TrialState::kCancelled))
                  .ok());
  EXPECT_EQ(store_->ListTrials({})->size(), 5u);
  auto queued = store_->ListTrials({.states = {jobs::TrialState::kQueued}}).value();
  EXPECT_EQ(queued.size(), 4u);
  auto cancelled =
      store_->ListTrials({.sweep_id = b.id, .states = {jobs::TrialState::kCancelled}}).value();
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].id, MakeTrialId(b.id, 1));
  (void)a;
}

}  // namespace
}  // namespace lf::store
