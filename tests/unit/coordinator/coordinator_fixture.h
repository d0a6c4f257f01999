// The fixture the coordinator's tests share: the in-memory store, a fake clock and a sink that
// records what would go to workers, with helpers to submit sweeps and play workers. A restart
// replaces the coordinator over the same store instance, as the daemon reopens its store.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/ids.h"
#include "coordinator/coordinator.h"
#include "coordinator/store/memory_store.h"
#include "recording_sink.h"
#include "store/store_test_util.h"

namespace lf::coordinator::testing {

using jobs::TrialState;
using protocol::Message;

inline const std::string kRepo = std::string(LF_TEST_SRCDIR) + "/../../..";

inline std::string SweepYaml(const std::string& space = "lora.r: [1, 2]",
                             const std::string& extra = "") {
  return "name: t\nbase:\n  base_model: examples/models/tiny-gpt2\n"
         "  data: {train: examples/data/medical/train.jsonl}\n"
         "  train: {steps: 10}\nspace:\n  " +
         space + "\n" + extra;
}

// A trial's DONE as a worker sends it: the result (for the trial's job) and the adapter files,
// result.json among them.
inline protocol::Done DoneWith(const protocol::Assign& a, jobs::TrialResult result) {
  result.job = a.job;
  return {.trial_id = a.trial_id,
          .attempt = a.attempt,
          .result = result,
          .files = {{"adapter_model.safetensors", "weights of " + a.trial_id},
                    {"result.json", jobs::TrialResultToJson(result).dump()}}};
}

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = store::testing::FreshDir("coord");  // runs/ and files some tests write
    std::filesystem::create_directories(dir_);
    store_ = store::NewMemoryStore(&clock_);
    Restart();
  }
  void Restart() {
    coordinator_.reset();
    auto created = Coordinator::Create(*store_, sink_, clock_,
                                       {.runs_dir = dir_ + "/runs",
                                        .heartbeat_timeout_ms = 5000,
                                        .retry_backoff_ms = 1000,
                                        .max_pack = max_pack_});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    coordinator_ = std::move(created).value();
  }
  std::string Submit(const std::string& yaml) {
    auto r = coordinator_->Submit({.spec = yaml, .base_dir = kRepo, .owner = "alice"});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? (*r)["sweep"]["id"].get<std::string>() : "";
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
  // Connects a worker and returns what it was assigned.
  protocol::Assign Join(const std::string& worker) {
    Send(worker, Hello(worker));
    auto assigned = sink_.Take<protocol::Assign>(worker);
    EXPECT_EQ(assigned.size(), 1u);
    return assigned.empty() ? protocol::Assign{} : assigned[0];
  }
  TrialState StateOf(const std::string& trial) { return store_->GetTrial(trial)->state; }
  protocol::Done DoneFor(const protocol::Assign& a) {
    return DoneWith(a, {.eval_loss = 1.5, .trainable_params = 10});
  }

  std::string dir_;
  int32_t max_pack_ = 0;  // the coordinator's --max-pack (0: by device)
  FakeClock clock_;
  RecordingSink sink_;
  std::unique_ptr<store::ExperimentStore> store_;
  std::unique_ptr<Coordinator> coordinator_;
};

}  // namespace lf::coordinator::testing
