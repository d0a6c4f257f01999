// The coordinator over a store that refuses writes (FailingStore: a full disk). After every
// refused write, what the coordinator holds in memory (queue, leases, per-sweep counts) must be
// what the store says: a lease that was not stored is not held, a submission that was not stored
// is not visible, metrics not stored are not acted on; and once the store resumes, work goes on.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "coordinator/coordinator.h"
#include "coordinator/store/memory_store.h"
#include "failing_store.h"
#include "recording_sink.h"
#include "store/store_test_util.h"

namespace lf::coordinator {
namespace {

using jobs::TrialState;
using protocol::Message;

const std::string kRepo = std::string(LF_TEST_SRCDIR) + "/../../..";

using testing::RecordingSink;

class StoreErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = store::testing::FreshDir("coord_errors");
    std::filesystem::create_directories(dir_);
    store_ = std::make_unique<store::testing::FailingStore>(store::NewMemoryStore(&clock_));
    Restart();
  }
  void Restart() {
    coordinator_.reset();
    auto created = Coordinator::Create(*store_, sink_, clock_,
                                       {.runs_dir = dir_ + "/runs", .heartbeat_timeout_ms = 5000});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    coordinator_ = std::move(created).value();
  }
  std::string Submit(const std::string& space = "lora.r: [1, 2]") {
    auto r = coordinator_->Submit({.spec = Yaml(space), .base_dir = kRepo, .owner = "alice"});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? (*r)["sweep"]["id"].get<std::string>() : "";
  }
  static std::string Yaml(const std::string& space) {
    return "name: t\nbase:\n  base_model: examples/models/tiny-gpt2\n"
           "  data: {train: examples/data/medical/train.jsonl}\n"
           "  train: {steps: 10}\nspace:\n  " +
           space + "\n";
  }
  void Send(const std::string& worker, Message m) {
    coordinator_->OnMessage(worker, std::move(m));
    coordinator_->Flush();
  }
  protocol::Hello Hello(const std::string& worker,
                        std::vector<protocol::RunningTrial> running = {}) {
    return {.worker_id = worker,
            .host = "h",
            .device = "cpu",
            .memory_bytes = 1LL << 33,
            .running = std::move(running)};
  }
  TrialState StateOf(const std::string& trial) { return store_->GetTrial(trial)->state; }

  // The invariant: the scheduler's queue holds exactly the store's queued trials, every lease in
  // memory is one the store records for that worker, and the sweep's counts are the store's.
  void ExpectMemoryMatchesStore(const std::string& sweep) {
    auto trials = store_->ListTrials({.sweep_id = sweep});
    ASSERT_TRUE(trials.ok());
    std::set<std::string> queued;
    std::map<std::string, std::string> held;
    std::map<std::string, int64_t> counts;
    for (const auto& t : *trials) {
      ++counts[std::string(jobs::TrialStateName(t.state))];
      if (t.state == TrialState::kQueued) queued.insert(t.id);
      if (t.state == TrialState::kAssigned || t.state == TrialState::kRunning) {
        held[t.id] = t.worker;
      }
    }
    std::set<std::string> in_queue;
    for (const auto& q : coordinator_->scheduler().QueueSnapshot()) {
      if (q.sweep_id == sweep) in_queue.insert(q.trial_id);
    }
    EXPECT_EQ(in_queue, queued);
    for (const auto& [worker, state] : coordinator_->scheduler().workers()) {
      for (const std::string& trial : state.trials) {
        ASSERT_TRUE(held.count(trial)) << worker << " holds " << trial << ", which is "
                                       << jobs::TrialStateName(StateOf(trial)) << " in the store";
        EXPECT_EQ(held[trial], worker) << trial;
      }
    }
    auto view = coordinator_->SweepView(sweep);
    ASSERT_TRUE(view.ok());
    for (const auto& [state, n] : (*view)["sweep"]["counts"].items()) {
      EXPECT_EQ(n.get<int64_t>(), counts[state]) << "trials " << state;
    }
  }

  std::string dir_;
  FakeClock clock_;
  RecordingSink sink_;
  std::unique_ptr<store::testing::FailingStore> store_;
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(StoreErrorsTest, ALeaseThatCannotBeStoredIsNotHeldAndTheTrialGoesBackToTheQueue) {
  const std::string sweep = Submit("lora.r: [4]");
  store_->RefuseWrites(true);  // the assignment's write fails, the store still says writable
  Send("w1", Hello("w1"));
  EXPECT_GT(store_->refused(), 0);
  EXPECT_TRUE(sink_.Take<protocol::Assign>("w1").empty());  // no ASSIGN for what is not stored
  EXPECT_EQ(coordinator_->scheduler().queued_count(), 1u);
  EXPECT_TRUE(coordinator_->scheduler().workers().at("w1").trials.empty());
  ExpectMemoryMatchesStore(sweep);

  store_->RefuseWrites(false);
  Send("w1", protocol::Heartbeat{Hello("w1")});
  auto assigned = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].attempt, 1u);
  EXPECT_EQ(StateOf(assigned[0].trial_id), TrialState::kAssigned);
  ExpectMemoryMatchesStore(sweep);
}

TEST_F(StoreErrorsTest, AFullDiskStopsDispatchUntilTheTickResumesTheStore) {
  const std::string sweep = Submit("lora.r: [4]");
  store_->FillDisk();
  Send("w1", Hello("w1"));
  EXPECT_TRUE(sink_.Take<protocol::Assign>("w1").empty());
  EXPECT_EQ(store_->refused(), 0);  // not even tried: nothing to take back
  EXPECT_EQ(coordinator_->HealthView()["status"], "store_unwritable");
  EXPECT_EQ(coordinator_->HealthView()["store"]["error"], "injected: the disk is full");
  EXPECT_NE(coordinator_->PrometheusMetrics().find("lorafleet_store_writable 0"),
            std::string::npos);
  coordinator_->Tick();
  coordinator_->Tick();  // at most one attempt per kStoreResumeIntervalMs
  EXPECT_EQ(store_->resume_attempts(), 1);
  ExpectMemoryMatchesStore(sweep);

  store_->FreeDisk();
  clock_.AdvanceMillis(kStoreResumeIntervalMs);
  Send("w1", protocol::Heartbeat{Hello("w1")});
  coordinator_->Tick();
  EXPECT_EQ(store_->resume_attempts(), 2);
  EXPECT_EQ(coordinator_->HealthView()["status"], "ok");
  ASSERT_EQ(sink_.Take<protocol::Assign>("w1").size(), 1u);
  ExpectMemoryMatchesStore(sweep);
}

TEST_F(StoreErrorsTest, ASubmissionTheStoreRefusesIsNotHalfVisible) {
  store_->FillDisk();
  auto r = coordinator_->Submit({.spec = Yaml("lora.r: [1, 2]"), .base_dir = kRepo});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("disk is full"), std::string::npos);
  EXPECT_TRUE((*coordinator_->ListSweepsView())["sweeps"].empty());
  EXPECT_EQ(coordinator_->scheduler().queued_count(), 0u);
  EXPECT_TRUE(store_->ListSweeps()->empty());
}

TEST_F(StoreErrorsTest, ARefusedCompletionKeepsTheStoresLeaseAndTheTrialRunsAgainLater) {
  const std::string sweep = Submit("lora.r: [4]");
  Send("w1", Hello("w1"));
  auto a = sink_.Take<protocol::Assign>("w1").at(0);
  Send("w1",
       protocol::Progress{.trial_id = a.trial_id, .attempt = 1, .metrics = {{1, "loss", 2.5, 0}}});
  ASSERT_EQ(StateOf(a.trial_id), TrialState::kRunning);

  store_->FillDisk();
  jobs::TrialResult result{.eval_loss = 1.5};
  result.job = a.job;
  Send("w1", protocol::Done{.trial_id = a.trial_id,
                            .attempt = 1,
                            .result = result,
                            .files = {{"adapter_model.safetensors", "weights"}}});
  EXPECT_GT(store_->refused(), 0);
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kRunning);
  EXPECT_FALSE(store_->GetAdapterFile(a.trial_id, "adapter_model.safetensors").ok());
  ExpectMemoryMatchesStore(sweep);
  EXPECT_EQ((*coordinator_->SweepView(sweep))["sweep"]["counts"]["completed"], 0);

  // The disk gets room; the store resumes; w1 (which finished) does not reclaim the trial, so
  // after one heartbeat timeout it goes back to the queue and runs again.
  store_->FreeDisk();
  for (int i = 0; i < 4; ++i) {
    clock_.AdvanceMillis(2000);
    Send("w1", protocol::Heartbeat{Hello("w1")});
    coordinator_->Tick();
  }
  auto again = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].trial_id, a.trial_id);
  EXPECT_EQ(again[0].attempt, 2u);
  ExpectMemoryMatchesStore(sweep);
}

TEST_F(StoreErrorsTest, MetricsTheStoreRefusesAreNotActedOn) {
  const std::string sweep = Submit("lora.r: [4]");
  Send("w1", Hello("w1"));
  auto a = sink_.Take<protocol::Assign>("w1").at(0);
  store_->FillDisk();
  Send("w1",
       protocol::Progress{.trial_id = a.trial_id, .attempt = 1, .metrics = {{1, "loss", 2.5, 0}}});
  // Neither the move to running nor the points were stored; the worker keeps its lease.
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kAssigned);
  EXPECT_TRUE(store_->ReadMetrics(a.trial_id, {})->empty());
  EXPECT_EQ(coordinator_->scheduler().workers().at("w1").trials.size(), 1u);
  ExpectMemoryMatchesStore(sweep);

  store_->FreeDisk();
  clock_.AdvanceMillis(kStoreResumeIntervalMs);
  coordinator_->Tick();
  Send("w1",
       protocol::Progress{.trial_id = a.trial_id, .attempt = 1, .metrics = {{2, "loss", 2.0, 0}}});
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kRunning);
  EXPECT_EQ(store_->ReadMetrics(a.trial_id, {})->size(), 1u);
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w1").empty());
  ExpectMemoryMatchesStore(sweep);
}

TEST_F(StoreErrorsTest, ACancellationTheStoreRefusesChangesNothingAndStopsNoWorker) {
  const std::string sweep = Submit("lora.r: [1, 2]");
  Send("w1", Hello("w1"));
  auto a = sink_.Take<protocol::Assign>("w1").at(0);
  store_->FillDisk();

  auto trial = coordinator_->CancelTrial(a.trial_id, "user:alice");
  ASSERT_FALSE(trial.ok());
  EXPECT_EQ(trial.status().code(), StatusCode::kUnavailable) << trial.status().ToString();
  auto whole = coordinator_->CancelSweep(sweep, "user:alice");
  ASSERT_FALSE(whole.ok());
  EXPECT_EQ(whole.status().code(), StatusCode::kUnavailable) << whole.status().ToString();
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w1").empty());  // w1 trains on: nothing changed
  EXPECT_EQ(store_->GetSweep(sweep)->state, jobs::SweepState::kActive);
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kAssigned);
  ExpectMemoryMatchesStore(sweep);
  // w1 still trains it and says so: it keeps the lease the store records.
  Send("w1", protocol::Heartbeat{Hello("w1", {{.trial_id = a.trial_id, .attempt = 1}})});
  EXPECT_EQ(coordinator_->scheduler().workers().at("w1").trials.size(), 1u);

  store_->FreeDisk();
  clock_.AdvanceMillis(kStoreResumeIntervalMs);
  coordinator_->Tick();
  ASSERT_TRUE(coordinator_->CancelSweep(sweep, "user:alice").ok());
  EXPECT_EQ(sink_.Take<protocol::Stop>("w1").size(), 1u);
  EXPECT_EQ(store_->GetSweep(sweep)->state, jobs::SweepState::kCancelled);
  ExpectMemoryMatchesStore(sweep);
}

// A store an older coordinator left with a cancelled sweep whose queued trial was never cancelled
// (the sweep was stored first, then the disk filled): the restart finishes the cancellation
// instead of stopping on it.
TEST_F(StoreErrorsTest, RestartFinishesACancellationTheStoreOnlyHalfHas) {
  const std::string sweep = Submit("lora.r: [1, 2]");
  ASSERT_TRUE(
      store_->UpdateSweep(sweep, {.state = jobs::SweepState::kCancelled, .actor = "user:alice"})
          .ok());
  Restart();
  coordinator_->Flush();
  auto trials = store_->ListTrials({.sweep_id = sweep});  // bound: a temporary's * would dangle
  ASSERT_TRUE(trials.ok());
  for (const auto& t : *trials) EXPECT_EQ(t.state, TrialState::kCancelled) << t.id;
  EXPECT_EQ(coordinator_->scheduler().queued_count(), 0u);
  Send("w1", Hello("w1"));
  EXPECT_TRUE(sink_.Take<protocol::Assign>("w1").empty());
}

}  // namespace
}  // namespace lf::coordinator
