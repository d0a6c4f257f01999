// The coordinator's core driven directly: the in-memory store, fake clock, and a sink that records
// what would go to workers (the in-process transport). A restart replaces the coordinator over
// the same store instance, as the daemon reopens its store directory; the RocksDB store's own
// durability is tested in store/ and by integration.coordinator_restart.
#include "coordinator/coordinator.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "coordinator/store/memory_store.h"
#include "coordinator_fixture.h"
#include "recording_sink.h"
#include "store/store_test_util.h"

namespace lf::coordinator {
namespace {

using jobs::TrialState;
using protocol::Message;
using testing::CoordinatorTest;
using testing::DoneWith;
using testing::kRepo;
using testing::SweepYaml;

TEST_F(CoordinatorTest, ASweepRunsToCompletionAndStoresEveryAdapter) {
  const std::string sweep = Submit(SweepYaml());
  auto a = Join("w1");
  EXPECT_EQ(a.attempt, 1u);
  EXPECT_EQ(a.job.lora.r, 1);
  EXPECT_EQ(a.job.output, dir_ + "/runs/" + sweep + "/" + a.trial_id);
  EXPECT_EQ(sink_.Take<protocol::Welcome>("w1").size(), 1u);
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kAssigned);

  Send("w1", protocol::Progress{.trial_id = a.trial_id, .attempt = 1,
                                .metrics = {{1, "loss", 2.5, 0}, {2, "loss", 2.25, 0}}});
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kRunning);
  EXPECT_EQ(store_->ReadMetrics(a.trial_id, {})->size(), 2u);

  Send("w1", DoneFor(a));
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kCompleted);
  EXPECT_EQ(*store_->GetAdapterFile(a.trial_id, "adapter_model.safetensors"), "weights of " + a.trial_id);
  // The idle worker gets the second trial straight away.
  auto next = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(next.size(), 1u);
  Send("w1", DoneFor(next[0]));  // DONE without PROGRESS: assigned -> running -> completed
  EXPECT_EQ(StateOf(next[0].trial_id), TrialState::kCompleted);
  EXPECT_EQ(store_->GetSweep(sweep)->state, jobs::SweepState::kFinished);

  auto compare = coordinator_->CompareView({sweep});
  ASSERT_TRUE(compare.ok());
  EXPECT_EQ((*compare)["rows"].size(), 2u);
  EXPECT_EQ((*compare)["rows"][0]["eval_loss"], 1.5);
  EXPECT_EQ((*compare)["rows"][0]["trainable_params"], 10);
}

TEST_F(CoordinatorTest, ARefusedSubmissionStoresNothing) {
  auto bad = coordinator_->Submit({.spec = SweepYaml("lora.r: [1, 0]"), .base_dir = kRepo});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().field(), "sweep.space.lora.r[1]");
  auto missing = coordinator_->Submit(
      {.spec = SweepYaml("data.train: [examples/data/medical/train.jsonl, nope.jsonl]"),
       .base_dir = kRepo});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().field(), "sweep.space.data.train");
  EXPECT_NE(missing.status().message().find("nope.jsonl"), std::string::npos);
  EXPECT_TRUE(store_->ListSweeps()->empty());
  EXPECT_EQ(coordinator_->scheduler().queued_count(), 0u);
}

TEST_F(CoordinatorTest, AStoredJobThatNoLongerParsesFailsItsTrialAndNeverReachesAWorker) {
  // A sweep as an older version might have stored it: its resolved form is fine, but the trial's
  // job names a method this version does not know.
  const std::string good = Submit(SweepYaml("lora.r: [4]"));
  ASSERT_TRUE(coordinator_->CancelSweep(good, "user:alice").ok());
  coordinator_->Flush();
  store::SweepRecord sweep = *store_->GetSweep(good);
  sweep.state = jobs::SweepState::kActive;
  sweep.id = IdGenerator(clock_).NextSweepId();
  const std::string trial_id = MakeTrialId(sweep.id, 0);
  store::TrialRecord trial{.id = trial_id, .sweep_id = sweep.id, .index = 0};
  trial.config = R"({"job": {"base_model": "m", "data": {"train": "t"}, "method": "lorax"},
                     "params": {}})";
  ASSERT_TRUE(store_->CreateSweep(sweep, {trial}, "test").ok());
  Restart();
  Send("w1", Hello("w1"));
  EXPECT_TRUE(sink_.Take<protocol::Assign>("w1").empty());
  const store::TrialRecord failed = *store_->GetTrial(trial_id);
  EXPECT_EQ(failed.state, TrialState::kFailed);
  EXPECT_NE(failed.last_error.find(".job.method"), std::string::npos) << failed.last_error;
  EXPECT_NE(failed.last_error.find("lorax"), std::string::npos) << failed.last_error;
}

TEST_F(CoordinatorTest, ALostWorkersTrialResumesElsewhereAndItsLateReportIsRefused) {
  Submit(SweepYaml("lora.r: [4]"));
  auto first = Join("w1");
  Send("w1", protocol::Progress{.trial_id = first.trial_id, .attempt = 1,
                                .metrics = {{5, "loss", 2.0, 0}}});
  Send("w1", protocol::Checkpoint{.trial_id = first.trial_id, .attempt = 1, .step = 5,
                                  .path = "/ckpt"});
  EXPECT_EQ((*coordinator_->TrialView(first.trial_id))["trial"]["checkpoint"], "/ckpt@5");
  Send("w2", Hello("w2"));  // idle: nothing left to assign
  clock_.AdvanceMillis(3000);
  Send("w2", protocol::Heartbeat{Hello("w2")});
  clock_.AdvanceMillis(3000);  // w1 silent for 6 s > 5 s
  coordinator_->Tick();
  auto second = sink_.Take<protocol::Assign>("w2");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].trial_id, first.trial_id);
  EXPECT_EQ(second[0].attempt, 2u);
  EXPECT_EQ(store_->GetTrial(first.trial_id)->checkpoint, "/ckpt@5");
  // w1 comes back and reports the old attempt as done: refused, and told to stop.
  Send("w1", DoneFor(first));
  EXPECT_EQ(StateOf(first.trial_id), TrialState::kAssigned);
  EXPECT_TRUE(store_->ListAdapterFiles(first.trial_id)->empty());
  EXPECT_EQ(sink_.Take<protocol::Stop>("w1").size(), 1u);
  Send("w2", DoneFor(second[0]));
  EXPECT_EQ(StateOf(first.trial_id), TrialState::kCompleted);
}

TEST_F(CoordinatorTest, RetryableFailuresRetryAfterABackOffAndOthersFailForGood) {
  Submit(SweepYaml("lora.r: [1, 2]", "max_retries: 1\n"));
  auto a = Join("w1");
  Send("w1", protocol::Failed{.trial_id = a.trial_id, .attempt = 1, .reason = "oom",
                              .retryable = true});
  // Backing off: the idle worker gets the other trial meanwhile.
  auto b = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_NE(b[0].trial_id, a.trial_id);
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kQueued);
  EXPECT_EQ(store_->GetTrial(a.trial_id)->failures, 1u);
  Send("w1", protocol::Failed{.trial_id = b[0].trial_id, .attempt = 1,
                              .reason = "bad data file", .retryable = false});
  EXPECT_EQ(StateOf(b[0].trial_id), TrialState::kFailed);
  EXPECT_TRUE(sink_.Take<protocol::Assign>("w1").empty());  // a's back-off has not ended
  clock_.AdvanceMillis(1000);
  coordinator_->Tick();
  auto retry = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].trial_id, a.trial_id);
  EXPECT_EQ(retry[0].attempt, 2u);
  // The second failure exhausts max_retries: 1.
  Send("w1", protocol::Failed{.trial_id = a.trial_id, .attempt = 2, .reason = "oom again",
                              .retryable = true});
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kFailed);
  clock_.AdvanceMillis(60000);
  coordinator_->Tick();
  EXPECT_TRUE(sink_.Take<protocol::Assign>("w1").empty());
  auto sweep = store_->GetSweep(store_->GetTrial(a.trial_id)->sweep_id);
  EXPECT_EQ(sweep->state, jobs::SweepState::kFinished);
}

TEST_F(CoordinatorTest, AnInterruptedWorkerRequeuesItsTrialWithoutCountingAFailure) {
  Submit(SweepYaml("lora.r: [1]"));
  auto a = Join("w1");
  Send("w1", protocol::Failed{.trial_id = a.trial_id, .attempt = 1, .reason = "SIGTERM",
                              .retryable = true, .interrupted = true, .step = 4});
  EXPECT_EQ(store_->GetTrial(a.trial_id)->failures, 0u);
  auto again = sink_.Take<protocol::Assign>("w1");  // no back-off
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempt, 2u);
}

TEST_F(CoordinatorTest, CancelAndPauseReachRunningTrials) {
  const std::string sweep = Submit(SweepYaml("lora.r: [1, 2, 4]"));
  auto a = Join("w1");
  auto b = Join("w2");
  auto cancelled = coordinator_->CancelTrial(a.trial_id, "user:alice");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kCancelled);
  auto stops = sink_.Take<protocol::Stop>("w1");
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].trial_id, a.trial_id);
  auto c = sink_.Take<protocol::Assign>("w1");  // w1 is free for the third trial
  ASSERT_EQ(c.size(), 1u);

  ASSERT_TRUE(coordinator_->PauseSweep(sweep, "user:alice").ok());
  EXPECT_EQ(sink_.Take<protocol::Stop>("w1").size(), 1u);
  EXPECT_EQ(sink_.Take<protocol::Stop>("w2").size(), 1u);
  EXPECT_EQ(StateOf(b.trial_id), TrialState::kQueued);
  EXPECT_EQ(StateOf(c[0].trial_id), TrialState::kQueued);
  coordinator_->Tick();
  EXPECT_TRUE(sink_.Take<protocol::Assign>("w1").empty());  // paused: nothing dispatched

  ASSERT_TRUE(coordinator_->ResumeSweep(sweep, "user:alice").ok());
  EXPECT_EQ(sink_.Take<protocol::Assign>("w1").size() + sink_.Take<protocol::Assign>("w2").size(),
            2u);
  EXPECT_EQ(coordinator_->CancelTrial(a.trial_id, "user:alice").status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(CoordinatorTest, ARestartedCoordinatorKeepsReclaimedLeasesAndRequeuesTheRest) {
  Submit(SweepYaml("lora.r: [1, 2, 4]"));
  auto a = Join("w1");
  auto b = Join("w2");
  Send("w1", protocol::Progress{.trial_id = a.trial_id, .attempt = 1,
                                .metrics = {{3, "loss", 2.0, 0}}});
  Restart();  // w2 died with the old coordinator; w1 is still training
  EXPECT_EQ(coordinator_->scheduler().queued_count(), 1u);
  Send("w1", protocol::Heartbeat{Hello("w1", {{a.trial_id, 1, 4}})});
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w1").empty());
  EXPECT_TRUE(sink_.Take<protocol::Assign>("w1").empty());  // busy with its reclaimed trial
  clock_.AdvanceMillis(6000);
  Send("w1", protocol::Heartbeat{Hello("w1", {{a.trial_id, 1, 6}})});
  coordinator_->Tick();
  EXPECT_EQ(StateOf(b.trial_id), TrialState::kQueued);  // nobody reclaimed it
  Send("w1", DoneFor(a));
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kCompleted);
  auto next = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(next.size(), 1u);
  // The third trial was queued all along, so it goes first; b follows.
  EXPECT_NE(next[0].trial_id, a.trial_id);
}

// Found by the chaos soak: what a worker queued while no coordinator listened reaches the new
// one before the worker's first heartbeat reclaims the lease. It used to be dropped (the trial's
// metrics lost, a DONE lost and the trial trained again once the lease expired).
TEST_F(CoordinatorTest, TheLeaseHoldersMessagesBeforeItsFirstHeartbeatAfterARestartCount) {
  Submit(SweepYaml("lora.r: [1, 2, 4]"));
  auto a = Join("w1");
  auto b = Join("w2");
  Send("w1", protocol::Progress{.trial_id = a.trial_id, .attempt = 1,
                                .metrics = {{1, "loss", 2.5, 0}}});
  Send("w2", protocol::Progress{.trial_id = b.trial_id, .attempt = 1,
                                .metrics = {{1, "loss", 2.5, 0}}});
  Restart();
  // w1 trained on and finished while no coordinator ran: PROGRESS, then DONE, then heartbeats
  // that no longer name the trial.
  Send("w1", protocol::Progress{.trial_id = a.trial_id, .attempt = 1,
                                .metrics = {{2, "loss", 2.25, 0}, {3, "loss", 2.0, 0}}});
  EXPECT_EQ(store_->ReadMetrics(a.trial_id, {})->size(), 3u);
  Send("w1", DoneFor(a));
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kCompleted);
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w1").empty());
  // w2's PROGRESS comes before its heartbeat, which then reclaims the lease.
  Send("w2", protocol::Progress{.trial_id = b.trial_id, .attempt = 1,
                                .metrics = {{2, "loss", 2.25, 0}}});
  EXPECT_EQ(store_->ReadMetrics(b.trial_id, {})->size(), 2u);
  Send("w2", protocol::Heartbeat{Hello("w2", {{b.trial_id, 1, 2}})});
  // A worker that does not hold the lease is not heard for it (and not told to stop: the
  // holder may still reclaim it).
  Send("w3", protocol::Progress{.trial_id = b.trial_id, .attempt = 1,
                                .metrics = {{9, "loss", 1.0, 0}}});
  EXPECT_EQ(store_->ReadMetrics(b.trial_id, {})->size(), 2u);
  clock_.AdvanceMillis(6000);
  Send("w1", protocol::Heartbeat{Hello("w1")});
  Send("w2", protocol::Heartbeat{Hello("w2", {{b.trial_id, 1, 5}})});
  coordinator_->Tick();
  EXPECT_EQ(StateOf(b.trial_id), TrialState::kRunning);  // reclaimed, not requeued
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w2").empty());
  // The completed trial was not handed out again; w1 took the third one.
  auto next = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(next.size(), 1u);
  EXPECT_NE(next[0].trial_id, a.trial_id);
  EXPECT_NE(next[0].trial_id, b.trial_id);
  auto log = store_->ReadEvents({.trial_id = a.trial_id});
  int completions = 0;
  for (const auto& e : *log) completions += e.detail.find("-> completed") != std::string::npos;
  EXPECT_EQ(completions, 1);
}

TEST_F(CoordinatorTest, AGpuWorkerTrainsItsLoraTrialsAsOnePackAndOtherMethodsAlone) {
  Submit(SweepYaml("lora.r: [1, 2, 4]"));
  Submit(SweepYaml("method: [dora]"));
  protocol::Hello gpu = Hello("g1");
  gpu.device = "cuda:0";
  Send("g1", gpu);
  auto packed = sink_.Take<protocol::Assign>("g1");
  ASSERT_EQ(packed.size(), 3u);  // under the GPU default of kDefaultGpuPack trials
  EXPECT_FALSE(packed[0].pack_key.empty());
  for (const auto& a : packed) EXPECT_EQ(a.pack_key, packed[0].pack_key);
  EXPECT_NE(packed[0].pack_key.find("tiny-gpt2"), std::string::npos) << packed[0].pack_key;
  // The DoRA trial cannot join: it goes to a CPU worker, which packs nothing.
  auto alone = Join("c1");
  EXPECT_EQ(alone.job.method, jobs::Method::kDora);
  EXPECT_EQ(alone.pack_key, "");
  Json workers = coordinator_->WorkersView()["workers"];
  ASSERT_EQ(workers.size(), 2u);
  EXPECT_EQ(workers[1]["id"], "g1");
  EXPECT_EQ(workers[1]["trials"].size(), 3u);
  EXPECT_EQ(workers[1]["pack_limit"], kDefaultGpuPack);
  EXPECT_EQ(workers[1]["trial"], packed[0].trial_id);
  EXPECT_EQ(workers[0]["pack_limit"], 1);
  EXPECT_NE(coordinator_->PrometheusMetrics().find("lorafleet_packed_trials 3"), std::string::npos);
}

TEST_F(CoordinatorTest, APackTakesAQueuedTrialWhenAMemberEndsAndIsRequeuedWholeWhenLost) {
  max_pack_ = 2;
  Restart();
  Submit(SweepYaml("lora.r: [1, 2, 4, 8]"));
  Send("w1", Hello("w1"));
  auto pack = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(pack.size(), 2u);
  EXPECT_FALSE(pack[0].pack_key.empty());
  Send("w1", protocol::Progress{
                 .trial_id = pack[1].trial_id, .attempt = 1, .metrics = {{3, "loss", 2.0, 0}}});
  Send("w1", DoneFor(pack[0]));
  auto joined = sink_.Take<protocol::Assign>("w1");  // into the freed slot, the other training on
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(joined[0].pack_key, pack[0].pack_key);
  EXPECT_EQ(StateOf(pack[1].trial_id), TrialState::kRunning);
  EXPECT_EQ(coordinator_->scheduler().queued_count(), 1u);

  // A restarted coordinator: the worker reports both; both leases are kept.
  Restart();
  Send("w1",
       protocol::Heartbeat{Hello("w1", {{pack[1].trial_id, 1, 5}, {joined[0].trial_id, 1, 1}})});
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w1").empty());
  EXPECT_TRUE(sink_.Take<protocol::Assign>("w1").empty());
  const auto& workers = coordinator_->scheduler().workers();
  ASSERT_EQ(workers.count("w1"), 1u);
  EXPECT_EQ(workers.at("w1").trials.size(), 2u);

  // Lost: both go back to the queue and a new worker takes them as a pack.
  Send("w2", Hello("w2"));
  auto third = sink_.Take<protocol::Assign>("w2");  // the trial still queued
  ASSERT_EQ(third.size(), 1u);
  clock_.AdvanceMillis(3000);
  Send("w2", protocol::Heartbeat{Hello("w2", {{third[0].trial_id, 1, 1}})});
  clock_.AdvanceMillis(3000);
  coordinator_->Tick();
  EXPECT_EQ(coordinator_->scheduler().workers().count("w1"), 0u);
  auto requeued = sink_.Take<protocol::Assign>("w2");
  ASSERT_EQ(requeued.size(), 1u);  // one slot left on w2's pack of 2
  EXPECT_EQ(requeued[0].attempt, 2u);
  EXPECT_EQ(coordinator_->scheduler().queued_count(), 1u);
  auto events = store_->ReadEvents({.trial_id = pack[1].trial_id});
  ASSERT_TRUE(events.ok());
  bool lost = false;
  for (const auto& e : *events) lost = lost || e.kind == "worker.lost";
  EXPECT_TRUE(lost);
}

TEST_F(CoordinatorTest, AGangTrialGoesToAllItsRanksAndALostMemberRequeuesItWhole) {
  Submit(SweepYaml("lora.r: [4]", "resources: {gpus: 2}\n"));
  auto rank = [&](const std::string& worker, int32_t r) {
    protocol::Hello h = Hello(worker);
    h.rank = r;
    h.world_size = 3;
    return h;
  };
  Send("w0", rank("w0", 0));
  EXPECT_TRUE(sink_.Take<protocol::Assign>("w0").empty()) << "half a gang starts nothing";
  Send("w1", rank("w1", 1));
  auto a0 = sink_.Take<protocol::Assign>("w0");
  auto a1 = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(a0.size(), 1u);
  ASSERT_EQ(a1.size(), 1u);
  EXPECT_EQ(a0[0].trial_id, a1[0].trial_id);
  EXPECT_EQ(a0[0].gang_ranks, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(a1[0].gang_ranks, a0[0].gang_ranks);
  EXPECT_GT(a0[0].gang_tag, 0);
  EXPECT_EQ(a0[0].gang_tag, a1[0].gang_tag);
  EXPECT_EQ(a0[0].pack_key, "") << "a gang never packs";
  const std::string trial = a0[0].trial_id;
  EXPECT_EQ((*coordinator_->TrialView(trial))["trial"]["worker"], "w0") << "rank 0 holds it";

  // Rank 0 reports; the other member's heartbeats name the trial and are its own to hold.
  Send("w0", protocol::Progress{.trial_id = trial, .attempt = 1, .metrics = {{2, "loss", 2.0, 0}}});
  EXPECT_EQ(StateOf(trial), TrialState::kRunning);
  Send("w1", protocol::Heartbeat{rank("w1", 1)});
  Send("w1", protocol::Heartbeat{[&] {
         protocol::Hello h = rank("w1", 1);
         h.running = {{trial, 1, 2}};
         return h;
       }()});
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w1").empty());

  // w1 goes silent: the gang's attempt ends, w0 is told to stop, and the trial starts again on
  // w0 and a new rank, w2.
  Send("w2", rank("w2", 2));
  clock_.AdvanceMillis(3000);
  Send("w0", protocol::Heartbeat{rank("w0", 0)});
  Send("w2", protocol::Heartbeat{rank("w2", 2)});
  clock_.AdvanceMillis(3000);
  coordinator_->Tick();
  auto stops = sink_.Take<protocol::Stop>("w0");
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].trial_id, trial);
  EXPECT_NE(stops[0].reason.find("w1"), std::string::npos) << stops[0].reason;
  auto b0 = sink_.Take<protocol::Assign>("w0");
  auto b2 = sink_.Take<protocol::Assign>("w2");
  ASSERT_EQ(b0.size(), 1u);
  ASSERT_EQ(b2.size(), 1u);
  EXPECT_EQ(b0[0].attempt, 2u);
  EXPECT_EQ(b0[0].gang_ranks, (std::vector<int32_t>{0, 2}));
  EXPECT_NE(b0[0].gang_tag, a0[0].gang_tag);

  // A member's failure ends the attempt for the others too; rank 0's DONE completes the trial.
  Send("w2", protocol::Failed{
                 .trial_id = trial, .attempt = 2, .reason = "CUDA error", .retryable = true});
  auto stopped = sink_.Take<protocol::Stop>("w0");
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_NE(stopped[0].reason.find("CUDA error"), std::string::npos);
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w2").empty()) << "the failed member is not told";
  clock_.AdvanceMillis(2000);  // the retry's back-off
  coordinator_->Tick();
  auto c0 = sink_.Take<protocol::Assign>("w0");
  auto c2 = sink_.Take<protocol::Assign>("w2");
  ASSERT_EQ(c0.size(), 1u);
  ASSERT_EQ(c2.size(), 1u);
  Send("w0", DoneFor(c0[0]));
  EXPECT_EQ(StateOf(trial), TrialState::kCompleted);
  EXPECT_TRUE(coordinator_->scheduler().workers().at("w2").trials.empty())
      << "the gang is released";
}

TEST_F(CoordinatorTest, CompareShowsForgettingAndCostAgainstTheFullBaseline) {
  const std::string sweep = Submit(SweepYaml("method: [lora, full]"));
  auto finish = [&](const protocol::Assign& a, double device_s, double forgetting) {
    Send("w1", DoneWith(a, {.eval_loss = 1.5,
                            .wall_s = device_s,
                            .general_eval_loss_base = 2.0,
                            .general_eval_loss = 2.0 + forgetting}));
  };
  auto a = Join("w1");
  finish(a, a.job.method == jobs::Method::kFull ? 40.0 : 10.0, a.job.method == jobs::Method::kFull ? 0.5 : 0.01);
  auto b = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(b.size(), 1u);
  finish(b[0], b[0].job.method == jobs::Method::kFull ? 40.0 : 10.0, b[0].job.method == jobs::Method::kFull ? 0.5 : 0.01);
  auto compare = coordinator_->CompareView({sweep});
  ASSERT_TRUE(compare.ok());
  ASSERT_EQ((*compare)["rows"].size(), 2u);
  for (const Json& row : (*compare)["rows"]) {
    const bool full = row["method"] == "full";
    EXPECT_EQ(row["device_s"], full ? 40.0 : 10.0);
    EXPECT_EQ(row["device_s_vs_full"], full ? 1.0 : 0.25);
    EXPECT_NEAR(row["forgetting"].get<double>(), full ? 0.5 : 0.01, 1e-12);
    EXPECT_EQ(row["general_eval_loss_base"], 2.0);
  }
}

TEST_F(CoordinatorTest, CompareGroupsRepeatsOfAConfigurationWithTheirInterval) {
  // A grid of two ranks, each run with two seeds (num_samples: 2).
  const std::string sweep = Submit(SweepYaml("lora.r: [1, 2]", "num_samples: 2\n"));
  protocol::Assign a = Join("w1");
  std::map<int64_t, double> next_loss = {{1, 1.0}, {2, 2.0}};  // r=1 better; seeds differ by 0.1
  for (int i = 0; i < 4; ++i) {
    const double loss = next_loss[a.job.lora.r];
    next_loss[a.job.lora.r] += 0.1;
    Send("w1", DoneWith(a, {.eval_loss = loss}));
    auto next = sink_.Take<protocol::Assign>("w1");
    if (i < 3) {
      ASSERT_EQ(next.size(), 1u);
      a = next[0];
    }
  }
  auto compare = coordinator_->CompareView({sweep});
  ASSERT_TRUE(compare.ok()) << compare.status().ToString();
  const Json& repeats = (*compare)["repeats"];
  ASSERT_EQ(repeats.size(), 2u) << repeats.dump();
  for (const Json& g : repeats) {
    EXPECT_EQ(g["n"], 2);
    EXPECT_EQ(g["eval_loss"]["n"], 2);
    EXPECT_FALSE(g["params"].contains("train.seed"));
  }
  EXPECT_EQ(repeats[0]["versus_best"], "best");
  EXPECT_TRUE(repeats[0]["eval_loss"]["low"].is_number());
}

TEST_F(CoordinatorTest, CompareMarksTheQualitySizeParetoFront) {
  const std::string sweep = Submit(SweepYaml("lora.r: [1, 2, 4, 8, 16]"));
  // r -> (eval loss, adapter bytes): r4 is beaten by r2 on both, r8 ties r2's loss but is
  // larger; r16 never finishes.
  const std::map<int, std::pair<double, double>> results = {
      {1, {2.0, 100}}, {2, {1.8, 200}}, {4, {1.9, 400}}, {8, {1.8, 800}}};
  std::map<std::string, int> rank_of;
  auto next = std::vector<protocol::Assign>{Join("w1")};
  while (!next.empty()) {
    const protocol::Assign a = next[0];
    const int r = static_cast<int>(a.job.lora.r);
    rank_of[a.trial_id] = r;
    if (!results.count(r)) break;
    Send("w1", DoneWith(a, {.eval_loss = results.at(r).first,
                            .adapter_bytes = static_cast<int64_t>(results.at(r).second)}));
    next = sink_.Take<protocol::Assign>("w1");
  }
  ASSERT_EQ(rank_of.size(), 5u);
  auto compare = coordinator_->CompareView({sweep});
  ASSERT_TRUE(compare.ok()) << compare.status().ToString();
  std::map<int, bool> front;
  for (const Json& row : (*compare)["rows"]) front[rank_of.at(row["trial_id"])] = row["pareto_front"];
  EXPECT_EQ(front, (std::map<int, bool>{{1, true}, {2, true}, {4, false}, {8, false}, {16, false}}));
}

TEST_F(CoordinatorTest, TagsNameCompletedAdaptersAndMoveWhenReused) {
  const std::string sweep = Submit(SweepYaml());
  auto a = Join("w1");
  EXPECT_FALSE(coordinator_->TagTrial(a.trial_id, "prod", "user:alice").ok());  // not completed
  Send("w1", DoneFor(a));
  auto b = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(b.size(), 1u);
  Send("w1", DoneFor(b[0]));

  for (const char* bad : {"", "-x", "has space", "a/b", std::string(65, 'x').c_str()}) {
    auto refused = coordinator_->TagTrial(a.trial_id, bad, "user:alice");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(coordinator_->TagTrial(sweep + "-000099", "prod", "user:alice").status().code(),
            StatusCode::kNotFound);
  ASSERT_TRUE(coordinator_->TagTrial(a.trial_id, "prod", "user:alice").ok());
  ASSERT_TRUE(coordinator_->TagTrial(a.trial_id, "medical-v1.2", "user:alice").ok());
  auto all = coordinator_->AdaptersView(std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ((*all)["adapters"].size(), 2u);
  for (const Json& row : (*all)["adapters"]) {
    EXPECT_EQ(row["sweep_name"], "t");
    EXPECT_EQ(row["eval_loss"], 1.5);
    EXPECT_EQ(row["tags"], row["trial_id"] == a.trial_id
                               ? Json::array({"medical-v1.2", "prod"})
                               : Json::array());
  }
  // Reusing a name moves it; the audit log says from where.
  ASSERT_TRUE(coordinator_->TagTrial(b[0].trial_id, "prod", "user:bob").ok());
  auto prod = coordinator_->AdaptersView("prod");
  ASSERT_TRUE(prod.ok());
  ASSERT_EQ((*prod)["adapters"].size(), 1u);
  EXPECT_EQ((*prod)["adapters"][0]["trial_id"], b[0].trial_id);
  EXPECT_EQ(coordinator_->AdaptersView("nope").status().code(), StatusCode::kNotFound);
  auto events = store_->ReadEvents({.trial_id = b[0].trial_id});
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->back().kind, "adapter.tagged");
  EXPECT_EQ(events->back().actor, "user:bob");
  EXPECT_EQ(events->back().detail, "tag prod (moved from " + a.trial_id + ")");
  // Tags are in the store: a restarted coordinator sees them.
  Restart();
  EXPECT_EQ((*coordinator_->AdaptersView("prod"))["adapters"][0]["trial_id"], b[0].trial_id);
}

TEST_F(CoordinatorTest, SweepsOfOneBaseModelCompareTogether) {
  const std::string first = Submit(SweepYaml("lora.r: [1, 2]"));
  const std::string second = Submit(SweepYaml("lora.r: [4]"));
  auto both = coordinator_->CompareView({first, second});
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_EQ((*both)["rows"].size(), 3u);
  EXPECT_EQ((*both)["sweeps"].size(), 2u);
  EXPECT_FALSE(both->contains("sweep"));  // only for one sweep
  EXPECT_EQ((*both)["base_model"],
            (std::filesystem::path(kRepo) / "examples/models/tiny-gpt2").lexically_normal().string());
  std::set<std::string> sweeps;
  for (const Json& row : (*both)["rows"]) sweeps.insert(row["sweep_id"]);
  EXPECT_EQ(sweeps, (std::set<std::string>{first, second}));

  // Another base model: refused, naming both trials and models.
  const std::string other_dir = dir_ + "/other-model";
  std::filesystem::create_directories(other_dir);
  std::filesystem::copy(kRepo + "/examples/models/tiny-gpt2", other_dir,
                        std::filesystem::copy_options::recursive);
  const std::string other = Submit(
      "name: o\nbase:\n  base_model: " + other_dir +
      "\n  data: {train: examples/data/medical/train.jsonl}\n  train: {steps: 10}\n"
      "space:\n  lora.r: [8]\n");
  auto mixed = coordinator_->CompareView({first, other});
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("compare sweeps that share a base model"),
            std::string::npos)
      << mixed.status().message();
  EXPECT_NE(mixed.status().message().find(other_dir), std::string::npos);
  EXPECT_EQ(coordinator_->CompareView({first, "nope"}).status().code(), StatusCode::kNotFound);
}

std::string AshaSweepYaml(const std::string& metric = "eval_loss") {
  return "name: asha\nbase:\n  base_model: examples/models/tiny-gpt2\n"
         "  data: {train: examples/data/medical/train.jsonl, eval: examples/data/medical/eval.jsonl}\n"
         "  train: {steps: 100, eval_every: 10}\nspace:\n  lora.r: [1, 2, 4, 8]\n"
         "early_stopping: {type: asha, metric: " + metric +
         ", mode: min, grace_period: 10, reduction_factor: 2}\n";
}

// A trial's DONE as a worker sends it, with an eval loss and, when early, the steps it stopped at.
protocol::Done AshaDone(const protocol::Assign& a, double eval_loss, int64_t steps, bool early) {
  return DoneWith(a, {.stop_reason = early ? jobs::StopReason::kEarlyStopped
                                           : jobs::StopReason::kCompleted,
                      .steps = steps,
                      .eval_loss = eval_loss});
}

// Rungs at steps 10, 20, 40, 80 (grace 10, rf 2, 100 steps); the best half of each continues.
// At rung 0, in arrival order: a 2.0 (first: continues), b 3.0 (cut 2.5: stops), c 1.0 (cut 2.0:
// continues), then a restart, then d 2.5 (cut 2.25 over all four: stops; had the restart lost
// the rung, d would be first there and continue).
TEST_F(CoordinatorTest, AshaStopsLateWorseTrialsWhichEndStoppedWithTheirAdapters) {
  const std::string sweep = Submit(AshaSweepYaml());
  auto a = Join("w1"), b = Join("w2"), c = Join("w3"), d = Join("w4");
  auto eval = [&](const std::string& w, const protocol::Assign& t, int64_t step, double v) {
    Send(w, protocol::Progress{.trial_id = t.trial_id, .attempt = t.attempt,
                               .metrics = {{step, "loss", v + 0.1, 0}, {step, "eval_loss", v, 0}}});
  };
  eval("w1", a, 5, 9.0);  // before the first rung: decides nothing
  eval("w1", a, 10, 2.0);
  eval("w2", b, 10, 3.0);
  eval("w3", c, 10, 1.0);
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w1").empty());
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w3").empty());
  auto stops = sink_.Take<protocol::Stop>("w2");
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].trial_id, b.trial_id);
  EXPECT_TRUE(stops[0].finish);
  const std::string b_reason =
      "early stopping (asha): eval_loss 3 at step 10 is worse than rung 0's cut 2.5 (best 1/2 of "
      "2 continue; mode min)";
  EXPECT_EQ(stops[0].reason, b_reason);
  EXPECT_EQ(StateOf(b.trial_id), TrialState::kRunning);  // until its DONE
  auto events = store_->ReadEvents({.trial_id = b.trial_id});
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->back().kind, "trial.early_stopped");
  EXPECT_EQ(events->back().detail, b_reason);

  Restart();  // every worker still trains and reclaims its lease
  for (auto [w, t] : {std::pair{"w1", &a}, {"w2", &b}, {"w3", &c}, {"w4", &d}}) {
    Send(w, protocol::Heartbeat{Hello(w, {{t->trial_id, 1, 11}})});
  }
  // b's next report: the new coordinator knows it was stopped and says so again.
  Send("w2", protocol::Progress{.trial_id = b.trial_id, .attempt = 1,
                                .metrics = {{11, "loss", 3.0, 0}}});
  stops = sink_.Take<protocol::Stop>("w2");
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_TRUE(stops[0].finish);
  eval("w4", d, 10, 2.5);
  stops = sink_.Take<protocol::Stop>("w4");
  ASSERT_EQ(stops.size(), 1u) << "the rung's records were lost in the restart";
  EXPECT_TRUE(stops[0].finish);
  EXPECT_NE(stops[0].reason.find("cut 2.25 (best 1/2 of 4"), std::string::npos) << stops[0].reason;

  // The stopped trials finish early: stopped, with their adapters.
  Send("w2", AshaDone(b, 3.0, 12, true));
  Send("w4", AshaDone(d, 2.5, 11, true));
  EXPECT_EQ(StateOf(b.trial_id), TrialState::kStopped);
  EXPECT_EQ(StateOf(d.trial_id), TrialState::kStopped);
  EXPECT_EQ(*store_->GetAdapterFile(b.trial_id, "adapter_model.safetensors"),
            "weights of " + b.trial_id);
  EXPECT_EQ(store_->ReadEvents({.trial_id = d.trial_id})->back().kind, "adapter.stored");
  // a and c continue past rung 1 (c is the better of two there) and complete.
  eval("w1", a, 20, 1.5);
  eval("w3", c, 20, 0.9);
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w1").empty());
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w3").empty());
  EXPECT_NE(store_->GetSweep(sweep)->state, jobs::SweepState::kFinished);
  Send("w1", AshaDone(a, 1.2, 100, false));
  Send("w3", AshaDone(c, 0.8, 100, false));
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kCompleted);
  EXPECT_EQ(StateOf(c.trial_id), TrialState::kCompleted);
  EXPECT_EQ(store_->GetSweep(sweep)->state, jobs::SweepState::kFinished);

  auto view = coordinator_->SweepView(sweep);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ((*view)["sweep"]["counts"]["stopped"], 2);
  EXPECT_EQ((*view)["sweep"]["counts"]["completed"], 2);
  for (const Json& t : (*view)["trials"]) {
    if (t["id"] == b.trial_id) {
      EXPECT_EQ(t["step"], 12);
    }
  }
  // Compare: completed best first, then the stopped ones, each with its result's metrics.
  auto compare = coordinator_->CompareView({sweep});
  ASSERT_TRUE(compare.ok());
  std::vector<std::pair<std::string, std::string>> order;
  for (const Json& row : (*compare)["rows"]) order.emplace_back(row["trial_id"], row["state"]);
  EXPECT_EQ(order, (std::vector<std::pair<std::string, std::string>>{
                       {c.trial_id, "completed"},
                       {a.trial_id, "completed"},
                       {d.trial_id, "stopped"},
                       {b.trial_id, "stopped"}}));
  EXPECT_EQ((*compare)["rows"][3]["eval_loss"], 3.0);
  EXPECT_EQ((*compare)["rows"][3]["steps"], 12);
  EXPECT_EQ((*compare)["rows"][2]["pareto_front"], false);  // it did not train to the end
  auto adapters = coordinator_->AdaptersView(std::nullopt);
  ASSERT_TRUE(adapters.ok());
  EXPECT_EQ((*adapters)["adapters"].size(), 4u);
  EXPECT_TRUE(coordinator_->TagTrial(b.trial_id, "early", "user:alice").ok());
  EXPECT_NE(coordinator_->PrometheusMetrics().find("lorafleet_trials{state=\"stopped\"} 2\n"),
            std::string::npos);
}

TEST_F(CoordinatorTest, AnEarlyStoppedTrialRequeuedIsToldToFinishAgain) {
  const std::string sweep = Submit(AshaSweepYaml("loss"));
  auto a = Join("w1"), b = Join("w2");
  Send("w1", protocol::Progress{.trial_id = a.trial_id, .attempt = 1,
                                .metrics = {{10, "loss", 1.0, 0}}});
  Send("w2", protocol::Progress{.trial_id = b.trial_id, .attempt = 1,
                                .metrics = {{10, "loss", 2.0, 0}}});
  ASSERT_EQ(sink_.Take<protocol::Stop>("w2").size(), 1u);
  EXPECT_NE(coordinator_->PrometheusMetrics().find("lorafleet_early_stops_total 1\n"),
            std::string::npos);
  // w2 dies before its DONE: b goes back to the queue and its next attempt is told at once.
  for (int i = 0; i < 3; ++i) {
    clock_.AdvanceMillis(2000);
    Send("w1", protocol::Heartbeat{Hello("w1", {{a.trial_id, 1, 12}})});
  }
  coordinator_->Tick();
  EXPECT_EQ(StateOf(b.trial_id), TrialState::kQueued);
  auto again = Join("w5");
  ASSERT_EQ(again.trial_id, b.trial_id);
  EXPECT_EQ(again.attempt, 2u);
  Send("w5", protocol::Progress{.trial_id = b.trial_id, .attempt = 2,
                                .metrics = {{9, "loss", 2.1, 0}}});
  auto stops = sink_.Take<protocol::Stop>("w5");
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].attempt, 2u);
  EXPECT_TRUE(stops[0].finish);
  // A worker that finished anyway (its STOP arrived after the last step) still ends stopped.
  Send("w5", AshaDone(again, 2.0, 100, false));
  EXPECT_EQ(StateOf(b.trial_id), TrialState::kStopped);
  EXPECT_EQ(store_->GetSweep(sweep)->state, jobs::SweepState::kActive);  // two trials queued
}

// Runs promtool (Prometheus' own checker, Debian's `prometheus` package) on an exposition.
// Returns its output, or nullopt when promtool is not installed.
std::optional<std::pair<int, std::string>> Promtool(const std::string& text, const std::string& dir) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) return std::nullopt;
  const std::string in = dir + "/metrics.txt", out = dir + "/promtool.txt";
  std::FILE* f = std::fopen(in.c_str(), "w");
  std::fputs(text.c_str(), f);
  std::fclose(f);
  const int rc = std::system(("promtool check metrics < " + in + " > " + out + " 2>&1").c_str());
  std::string output;
  if (std::FILE* r = std::fopen(out.c_str(), "r")) {
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof(buf), r)) output.append(buf, n);
    std::fclose(r);
  }
  return std::make_pair(WEXITSTATUS(rc), output);
}

TEST_F(CoordinatorTest, MetricsCountDispatchesFailuresAndStepTimes) {
  Submit(SweepYaml("lora.r: [1, 2, 4]", "max_retries: 1\n"));
  clock_.AdvanceMillis(250);  // the trials have waited 0.25 s when the worker arrives
  auto a = Join("w1");
  Send("w1", protocol::Progress{.trial_id = a.trial_id, .attempt = 1,
                                .metrics = {{1, "loss", 2.5, 1000}, {3, "loss", 2.0, 2000},
                                            {3, "lr", 1e-3, 2000}}});
  Send("w1", protocol::Failed{.trial_id = a.trial_id, .attempt = 1, .reason = "oom",
                              .retryable = true});
  auto b = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(b.size(), 1u);
  Send("w1", DoneFor(b[0]));
  ASSERT_EQ(sink_.Take<protocol::Assign>("w1").size(), 1u);  // the third trial

  const std::string text = coordinator_->PrometheusMetrics();
  for (const char* line : {
           "lorafleet_dispatches_total 3\n",
           "lorafleet_trial_completions_total 1\n",
           "lorafleet_trial_failures_total{outcome=\"retried\"} 1\n",
           "lorafleet_trial_failures_total{outcome=\"failed\"} 0\n",
           "lorafleet_retries_total 1\n",
           "lorafleet_trials{state=\"completed\"} 1\n",
           "lorafleet_trials{state=\"queued\"} 1\n",  // a, backing off
           "lorafleet_trials{state=\"assigned\"} 1\n",
           "lorafleet_queue_length 1\n",
           "lorafleet_sweeps{state=\"active\"} 1\n",
           "lorafleet_workers{state=\"busy\"} 1\n",
           "lorafleet_workers{state=\"idle\"} 0\n",
           // 1 s between steps 1 and 3: 0.5 s per step, observed once (the lr line is no step).
           "lorafleet_step_time_seconds_bucket{le=\"0.25\"} 0\n",
           "lorafleet_step_time_seconds_bucket{le=\"0.5\"} 1\n",
           "lorafleet_step_time_seconds_sum 0.5\n",
           "lorafleet_step_time_seconds_count 1\n",
           // Three assignments, each of a trial queued since the submission 0.25 s before.
           "lorafleet_dispatch_latency_seconds_bucket{le=\"0.1\"} 0\n",
           "lorafleet_dispatch_latency_seconds_bucket{le=\"0.5\"} 3\n",
           "lorafleet_dispatch_latency_seconds_count 3\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "in:\n" << text;
  }
  // Labels in name order, as prometheus-cpp writes them.
  EXPECT_NE(text.find("lorafleet_worker_tokens_per_second{host=\"h\",rank=\"0\",worker=\"w1\"}"),
            std::string::npos);
  EXPECT_NE(text.find("lorafleet_store_size_bytes "), std::string::npos);

  auto checked = Promtool(text, dir_);
  if (!checked) GTEST_SKIP() << "promtool not installed (Debian's prometheus package; make deps)";
  EXPECT_EQ(checked->first, 0) << checked->second << "\n" << text;
}

}  // namespace
}  // namespace lf::coordinator
