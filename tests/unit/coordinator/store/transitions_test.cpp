#include <gtest/gtest.h>

#include "coordinator/store/store_codec.h"
#include "store_test_util.h"

namespace lf::store {
namespace {

using jobs::TrialState;
using S = TrialState;
using testing::RocksDbStoreTest;

// Every TransitionTest runs against the RocksDB and the in-memory store.
class TransitionTest : public testing::StoreTest {
 protected:
  // A fresh trial driven into `state` through legal transitions.
  std::string TrialInState(S state) {
    SweepRecord s = AddSweep(1);
    std::string id = MakeTrialId(s.id, 0);
    std::vector<S> path;
    switch (state) {
      case S::kQueued: break;
      case S::kAssigned: path = {S::kAssigned}; break;
      case S::kRunning: path = {S::kAssigned, S::kRunning}; break;
      case S::kCompleted: path = {S::kAssigned, S::kRunning, S::kCompleted}; break;
      case S::kFailed: path = {S::kAssigned, S::kRunning, S::kFailed}; break;
      case S::kCancelled: path = {S::kCancelled}; break;
      case S::kStopped: path = {S::kAssigned, S::kRunning, S::kStopped}; break;
    }
    S from = S::kQueued;
    for (S to : path) {
      auto r = store_->TransitionTrial(Move(id, from, to));
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      from = to;
    }
    return id;
  }
};
INSTANTIATE_TEST_SUITE_P(Stores, TransitionTest, testing::EveryStore(), testing::StoreKindName);

TEST_P(TransitionTest, EveryLegalTransitionAppliesAndEveryIllegalOneIsRefused) {
  for (S from : jobs::AllTrialStates()) {
    for (S to : jobs::AllTrialStates()) {
      std::string id = TrialInState(from);
      TrialRecord before = *store_->GetTrial(id);
      Result<TrialRecord> r = store_->TransitionTrial(Move(id, from, to));
      TrialRecord after = *store_->GetTrial(id);
      if (jobs::IsLegalTransition(from, to)) {
        ASSERT_TRUE(r.ok()) << jobs::TrialStateName(from) << " -> " << jobs::TrialStateName(to)
                            << ": " << r.status().ToString();
        EXPECT_EQ(after.state, to);
        EXPECT_EQ(after.version, before.version + 1);
      } else {
        ASSERT_FALSE(r.ok()) << jobs::TrialStateName(from) << " -> " << jobs::TrialStateName(to);
        EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
        EXPECT_NE(r.status().message().find(id), std::string::npos);
        EXPECT_EQ(after.state, from);  // nothing changed
        EXPECT_EQ(after.version, before.version);
      }
    }
  }
}

TEST_P(TransitionTest, StaleFromStateIsAConflictAndChangesNothing) {
  std::string id = TrialInState(S::kRunning);
  // A writer that still believes the trial is assigned (it missed the running transition).
  auto stale = store_->TransitionTrial(Move(id, S::kAssigned, S::kQueued));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict);
  EXPECT_NE(stale.status().message().find("is running"), std::string::npos);
  EXPECT_EQ(store_->GetTrial(id)->state, S::kRunning);
}

TEST_P(TransitionTest, AStaleLeaseCannotFinishAReassignedTrial) {
  std::string id = TrialInState(S::kRunning);  // attempt 1 on host-a/0
  ASSERT_TRUE(store_->TransitionTrial(Move(id, S::kRunning, S::kQueued)).ok());  // worker lost
  auto second = Move(id, S::kQueued, S::kAssigned);
  second.worker = "host-b/1";
  ASSERT_EQ(store_->TransitionTrial(second)->attempt, 2u);
  ASSERT_TRUE(store_->TransitionTrial(Move(id, S::kAssigned, S::kRunning)).ok());
  // The first worker comes back and reports completion for attempt 1.
  auto late = Move(id, S::kRunning, S::kCompleted);
  late.expected_attempt = 1;
  auto r = store_->TransitionTrial(late);
  EXPECT_EQ(r.status().code(), StatusCode::kConflict);
  EXPECT_NE(r.status().message().find("stale"), std::string::npos);
  TrialRecord t = *store_->GetTrial(id);
  EXPECT_EQ(t.state, S::kRunning);
  EXPECT_EQ(t.worker, "host-b/1");
  late.expected_attempt = 2;
  EXPECT_TRUE(store_->TransitionTrial(late).ok());
}

TEST_P(TransitionTest, TransitionsRecordWorkerTimesErrorsAndCheckpoints) {
  SweepRecord s = AddSweep(1);
  std::string id = MakeTrialId(s.id, 0);
  auto assign = Move(id, S::kQueued, S::kAssigned);
  assign.worker = "";
  EXPECT_EQ(store_->TransitionTrial(assign).status().code(), StatusCode::kInvalidArgument);
  clock_.SetMillis(2'000'000'000'000);
  ASSERT_TRUE(store_->TransitionTrial(Move(id, S::kQueued, S::kAssigned)).ok());
  clock_.AdvanceMillis(500);
  ASSERT_TRUE(store_->TransitionTrial(Move(id, S::kAssigned, S::kRunning)).ok());
  auto fail = Move(id, S::kRunning, S::kFailed);
  fail.reason = "CUDA out of memory";
  fail.checkpoint = "/ckpt/step-100";
  clock_.AdvanceMillis(1500);
  ASSERT_TRUE(store_->TransitionTrial(fail).ok());
  TrialRecord t = *store_->GetTrial(id);
  EXPECT_EQ(t.worker, "host-a/0");
  EXPECT_EQ(t.attempt, 1u);
  EXPECT_EQ(t.started_ms, 2'000'000'000'500);
  EXPECT_EQ(t.finished_ms, 2'000'000'002'000);
  EXPECT_EQ(t.last_error, "CUDA out of memory");
  EXPECT_EQ(t.checkpoint, "/ckpt/step-100");
  // retry
  ASSERT_TRUE(store_->TransitionTrial(Move(id, S::kFailed, S::kQueued)).ok());
  t = *store_->GetTrial(id);
  EXPECT_EQ(t.worker, "");
  EXPECT_EQ(t.checkpoint, "/ckpt/step-100");  // kept to resume from

  auto events = store_->ReadEvents({.trial_id = id}).value();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].detail, "queued -> assigned (attempt 1) to host-a/0");
  EXPECT_EQ(events[2].detail, "running -> failed (attempt 1): CUDA out of memory");
  EXPECT_EQ(events[2].actor, "scheduler");
  EXPECT_EQ(events[2].time_ms, 2'000'000'002'000);
}

TEST_P(TransitionTest, BatchAppliesEachRequestOnItsOwnInOrder) {
  SweepRecord s = AddSweep(3);
  std::string a = MakeTrialId(s.id, 0), b = MakeTrialId(s.id, 1), c = MakeTrialId(s.id, 2);
  auto results = store_->TransitionTrials({
      Move(a, S::kQueued, S::kAssigned),
      Move(a, S::kAssigned, S::kRunning),  // sees the first request's effect
      Move(b, S::kRunning, S::kCompleted),  // conflict: b is queued
      Move("missing", S::kQueued, S::kAssigned),
      Move(c, S::kQueued, S::kCancelled),
  });
  ASSERT_EQ(results.size(), 5u);
  EXPECT_TRUE(results[0].ok());
  ASSERT_TRUE(results[1].ok());
  EXPECT_EQ(results[1]->state, S::kRunning);
  EXPECT_EQ(results[2].status().code(), StatusCode::kConflict);
  EXPECT_EQ(results[3].status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(results[4].ok());
  Reopen();
  EXPECT_EQ(store_->GetTrial(a)->state, S::kRunning);
  EXPECT_EQ(store_->GetTrial(a)->version, 3u);
  EXPECT_EQ(store_->GetTrial(b)->state, S::kQueued);
  EXPECT_EQ(store_->GetTrial(c)->state, S::kCancelled);
}

TEST_P(TransitionTest, EventLogIsGaplessAndResumesAfterReopen) {
  SweepRecord s = AddSweep(2);
  std::string a = MakeTrialId(s.id, 0);
  ASSERT_TRUE(store_->TransitionTrial(Move(a, S::kQueued, S::kAssigned)).ok());
  EXPECT_FALSE(store_->TransitionTrial(Move(a, S::kQueued, S::kAssigned)).ok());  // no event
  Reopen();
  Result<uint64_t> seq = store_->RecordEvent(
      {.actor = "coordinator", .kind = "worker.lost", .detail = "host-a/0 missed 3 heartbeats"});
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 3u);
  auto events = store_->ReadEvents({}).value();
  ASSERT_EQ(events.size(), 3u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq, i + 1);
  EXPECT_EQ(store_->ReadEvents({.after_seq = 1, .limit = 1})->at(0).seq, 2u);
  EXPECT_EQ(store_->ReadEvents({.trial_id = MakeTrialId(s.id, 1)})->size(), 0u);
  EXPECT_EQ(store_->RecordEvent({.actor = "x"}).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(TransitionTest, ACompletionStoresItsAdapterFilesInTheSameBatch) {
  std::string id = TrialInState(S::kRunning);
  const std::string weights(1000, 'w');
  auto done = Move(id, S::kRunning, S::kCompleted);
  done.files = {{"adapter_config.json", "{}"}, {"adapter_model.safetensors", weights}};
  ASSERT_TRUE(store_->TransitionTrial(done).ok());
  EXPECT_EQ(*store_->GetAdapterFile(id, "adapter_model.safetensors"), weights);
  EXPECT_EQ(store_->ListAdapterFiles(id)->size(), 2u);
  auto events = *store_->ReadEvents({.trial_id = id});
  EXPECT_EQ(events.back().kind, "adapter.stored");  // one event naming both files
  EXPECT_EQ(events[events.size() - 2].kind, "trial.transition");
  EXPECT_NE(events.back().detail.find("adapter_config.json (2 bytes"), std::string::npos);
  EXPECT_NE(events.back().detail.find("adapter_model.safetensors (1000 bytes"), std::string::npos);
}

TEST_P(TransitionTest, ACompletionKeepsItsTypedResultWithTheRecord) {
  std::string id = TrialInState(S::kRunning);
  auto done = Move(id, S::kRunning, S::kStopped);
  done.result = jobs::TrialResult{.stop_reason = jobs::StopReason::kEarlyStopped,
                                  .steps = 12,
                                  .eval_loss = 1.75,
                                  .adapter_bytes = 4096};
  ASSERT_TRUE(store_->TransitionTrial(done).ok());
  Reopen();
  for (const TrialRecord& t : {*store_->GetTrial(id), store_->ListTrials({})->front()}) {
    ASSERT_TRUE(t.result.has_value());
    EXPECT_EQ(t.result->stop_reason, jobs::StopReason::kEarlyStopped);
    EXPECT_EQ(t.result->steps, 12);
    EXPECT_EQ(t.result->eval_loss, 1.75);
    EXPECT_EQ(t.result->adapter_bytes, 4096);
  }
  // Only a trial with an adapter has a result.
  std::string running = TrialInState(S::kRunning);
  auto failed = Move(running, S::kRunning, S::kFailed);
  failed.result = jobs::TrialResult{};
  EXPECT_EQ(store_->TransitionTrial(failed).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetTrial(running)->state, S::kRunning);
  EXPECT_FALSE(store_->GetTrial(running)->result.has_value());
}

TEST_P(TransitionTest, ARefusedCompletionStoresNoAdapterFiles) {
  std::string id = TrialInState(S::kRunning);
  auto stale = Move(id, S::kRunning, S::kCompleted);
  stale.expected_attempt = 7;  // someone else's lease
  stale.files = {{"adapter_model.safetensors", "bytes"}};
  EXPECT_EQ(store_->TransitionTrial(stale).status().code(), StatusCode::kConflict);
  auto bad_name = Move(id, S::kRunning, S::kCompleted);
  bad_name.files = {{"../escape", "bytes"}};
  EXPECT_EQ(store_->TransitionTrial(bad_name).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->ListAdapterFiles(id)->empty());
  EXPECT_EQ(store_->GetTrial(id)->state, S::kRunning);
}

TEST_F(RocksDbStoreTest, OpeningAnOlderStoreReadsResultsFromTheirResultJson) {
  // Before records carried their result, only the result.json adapter file had it.
  std::string id = MakeTrialId(AddSweep(1).id, 0);
  ASSERT_TRUE(store_->TransitionTrial(Move(id, S::kQueued, S::kAssigned)).ok());
  ASSERT_TRUE(store_->TransitionTrial(Move(id, S::kAssigned, S::kRunning)).ok());
  auto done = Move(id, S::kRunning, S::kCompleted);
  const std::string result_json = R"({"stop_reason": "completed", "steps": 30, "eval_loss": 2.5})";
  done.files = {{"result.json", result_json}};
  ASSERT_TRUE(store_->TransitionTrial(done).ok());
  EXPECT_FALSE(store_->GetTrial(id)->result.has_value());
  Reopen();
  Result<TrialRecord> t = store_->GetTrial(id);
  ASSERT_TRUE(t.ok() && t->result.has_value());
  EXPECT_EQ(t->result->steps, 30);
  EXPECT_EQ(t->result->eval_loss, 2.5);
  EXPECT_EQ(t->version, 4u);  // a migration, not a change of the trial
}

TEST_F(RocksDbStoreTest, ConfigsLiveApartFromRecordsAndOldInlineConfigsStillRead) {
  std::string id = MakeTrialId(AddSweep(1).id, 0);
  ASSERT_TRUE(store_->TransitionTrial(Move(id, S::kQueued, S::kAssigned)).ok());
  ASSERT_TRUE(store_->TransitionTrial(Move(id, S::kAssigned, S::kRunning)).ok());
  EXPECT_EQ(store_->GetTrial(id)->config, "{\"lora\":{\"r\":1}}");  // joined from trial_configs
  TrialRecord t = *store_->GetTrial(id);
  EXPECT_EQ(codec::EncodeTrial(t).find("lora"), std::string::npos);  // not in the record
  // A record from before trial_configs carried its config inline.
  auto old = codec::DecodeTrial(id, R"({"id":")" + id + R"(","sweep_id":")" + t.sweep_id +
                                        R"(","index":0,"config":"{\"x\":1}","state":"queued",)"
                                        R"("attempt":0,"worker":"","last_error":"","checkpoint":"",)"
                                        R"("created_ms":1,"updated_ms":1,"started_ms":0,)"
                                        R"("finished_ms":0,"version":1})");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->config, "{\"x\":1}");
}

}  // namespace
}  // namespace lf::store
