// The agent's logic against an in-memory link and a fake trainer: what it sends, in what order,
// for ASSIGN, STOP, bad jobs, failures and shutdown. No sockets, no training; milliseconds each.
#include "worker/agent/agent.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "common/file_util.h"
#include "worker/agent/device.h"
#include "worker/agent/outbox.h"

namespace lf::worker {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The coordinator's side of an in-memory link.
class FakeLink final : public CoordinatorLink {
 public:
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<protocol::Message> to_worker;
    std::vector<protocol::Message> from_worker;
  };
  explicit FakeLink(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  Status Send(const protocol::Message& message) override {
    // Through the codec, as the real link does.
    auto decoded = protocol::Decode(protocol::Encode(message));
    if (!decoded.ok()) return decoded.status();
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->from_worker.push_back(std::move(decoded).value());
    shared_->cv.notify_all();
    return Status::Ok();
  }
  Result<std::optional<protocol::Message>> Receive(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(shared_->mu);
    if (!shared_->cv.wait_for(lock, timeout, [&] { return !shared_->to_worker.empty(); })) {
      return std::optional<protocol::Message>();
    }
    protocol::Message m = std::move(shared_->to_worker.front());
    shared_->to_worker.pop_front();
    return std::optional<protocol::Message>(std::move(m));
  }

 private:
  std::shared_ptr<Shared> shared_;
};

// A trainer that takes `train.steps` steps of 2 ms, checkpoints every train.checkpoint_every,
// honours stop_requested and finish_requested like the real one, and writes an adapter folder
// when it completes.
// data.train selects failures: "missing" (NotFound), "flaky" (Unavailable), "nan".
Result<TrainJobResult> FakeTrain(const jobs::JobSpec& job, const TrainJobOptions& options) {
  if (job.data.train == "missing") return NotFound("reading missing: no such file");
  if (job.data.train == "flaky") return Unavailable("the GPU went away");
  TrainJobResult r;
  r.train.stop_reason = "completed";
  int64_t step = 0;
  for (; step < job.train.steps; ++step) {
    if (options.stop_requested && options.stop_requested()) {
      r.train.stop_reason = "stopped";
      break;
    }
    if (options.finish_requested && options.finish_requested()) {
      r.train.stop_reason = "early_stopped";
      r.train.early_stopped = true;
      break;
    }
    std::this_thread::sleep_for(2ms);
    if (job.data.train == "nan" && step == 1) {
      r.train.stop_reason = "the loss became NaN at step 2; lower train.lr or check the data";
      break;
    }
    StepMetrics m{.step = step + 1,
                  .loss = 1.0 / (step + 1),
                  .lr = 0.1,
                  .grad_norm = 0.5,
                  .tokens_per_s = 1000};
    if (step == 0) m.eval_loss = 2.0;
    if (options.on_step) options.on_step(m);
    if (job.train.checkpoint_every > 0 && (step + 1) % job.train.checkpoint_every == 0 &&
        step + 1 < job.train.steps && options.on_checkpoint) {
      options.on_checkpoint(step + 1,
                            job.output + "/checkpoints/checkpoint-" + std::to_string(step + 1));
    }
  }
  r.train.steps = step;
  r.train.completed = r.train.stop_reason == "completed" || r.train.early_stopped;
  if (r.train.stop_reason == "stopped" && options.on_checkpoint) {
    options.on_checkpoint(step, job.output + "/checkpoints/checkpoint-" + std::to_string(step));
  }
  if (r.train.completed) {
    r.adapter_dir = job.output + "/adapter";
    LF_RETURN_IF_ERROR(CreateDirectories(r.adapter_dir));
    LF_RETURN_IF_ERROR(WriteFileAtomically(r.adapter_dir + "/adapter_config.json", "{}"));
    LF_RETURN_IF_ERROR(WriteFileAtomically(r.adapter_dir + "/adapter_model.safetensors", "ST"));
    LF_RETURN_IF_ERROR(WriteFileAtomically(job.output + "/result.json", "{\"ok\":true}"));
  }
  return r;
}

Json Job(const std::string& output, int64_t steps, const std::string& train = "train.jsonl",
         int64_t checkpoint_every = 0) {
  return {{"base_model", "base"},
          {"data", {{"train", train}}},
          {"train", {{"steps", steps}, {"checkpoint_every", checkpoint_every}}},
          {"output", output}};
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // ctest runs each test case as its own process, in parallel: one folder per test.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = (fs::path(::testing::TempDir()) / ("lf_agent_unit_" + std::string(info->name()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    shared_ = std::make_shared<FakeLink::Shared>();
    WorkerIdentity id;
    id.worker_id = "host/0/42";
    id.host = "host";
    id.pid = 42;
    id.memory_bytes = 1 << 30;
    agent_ = std::make_unique<Agent>(
        AgentOptions{.coordinator = "fake", .heartbeat_ms = 30, .handle_signals = false}, id,
        std::make_unique<FakeLink>(shared_), FakeTrain);
    thread_ = std::thread([this] { run_status_ = agent_->Run(); });
  }
  void TearDown() override {
    if (thread_.joinable()) {
      agent_->RequestShutdown("teardown");
      thread_.join();
    }
  }

  void ToWorker(protocol::Message m) {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->to_worker.push_back(std::move(m));
    shared_->cv.notify_all();
  }

  // Waits until a message satisfies `pred`; returns its index in the messages so far.
  size_t WaitFor(const std::function<bool(const protocol::Message&)>& pred,
                 std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock<std::mutex> lock(shared_->mu);
    size_t found = SIZE_MAX;
    shared_->cv.wait_for(lock, timeout, [&] {
      for (size_t i = 0; i < shared_->from_worker.size(); ++i) {
        if (pred(shared_->from_worker[i])) {
          found = i;
          return true;
        }
      }
      return false;
    });
    EXPECT_NE(found, SIZE_MAX) << "timed out";
    return found;
  }
  template <typename T>
  size_t WaitForType(const std::string& trial_id) {
    return WaitFor([&](const protocol::Message& m) {
      auto* t = std::get_if<T>(&m);
      return t != nullptr && t->trial_id == trial_id;
    });
  }
  std::vector<protocol::Message> Sent() {
    std::lock_guard<std::mutex> lock(shared_->mu);
    return shared_->from_worker;
  }
  // Messages other than heartbeats about `trial_id`.
  std::vector<protocol::Message> About(const std::string& trial_id) {
    std::vector<protocol::Message> out;
    for (auto& m : Sent()) {
      std::visit(
          [&](const auto& v) {
            if constexpr (requires { v.trial_id; }) {
              if (v.trial_id == trial_id) out.push_back(m);
            }
          },
          m);
    }
    return out;
  }
  Status Shutdown(const std::string& why) {
    agent_->RequestShutdown(why);
    thread_.join();
    return run_status_;
  }

  std::string dir_;
  std::shared_ptr<FakeLink::Shared> shared_;
  std::unique_ptr<Agent> agent_;
  std::thread thread_;
  Status run_status_;
};

TEST_F(AgentTest, HelloFirstThenHeartbeatsWithTheRunningTrial) {
  WaitFor(
      [](const protocol::Message& m) { return std::holds_alternative<protocol::Heartbeat>(m); });
  auto sent = Sent();
  ASSERT_TRUE(std::holds_alternative<protocol::Hello>(sent[0]));
  const auto& hello = std::get<protocol::Hello>(sent[0]);
  EXPECT_EQ(hello.worker_id, "host/0/42");
  EXPECT_EQ(hello.memory_bytes, 1 << 30);
  EXPECT_TRUE(hello.running.empty());

  ToWorker(protocol::Assign{.trial_id = "t1", .attempt = 2, .job = Job(dir_ + "/t1", 100000)});
  WaitFor([](const protocol::Message& m) {
    auto* h = std::get_if<protocol::Heartbeat>(&m);
    return h != nullptr && !h->running.empty() && h->running[0].step > 0;
  });
  ToWorker(protocol::Stop{.trial_id = "t1", .attempt = 2, .reason = "test"});
}

TEST_F(AgentTest, WelcomeSetsTheHeartbeatInterval) {
  ToWorker(protocol::Welcome{.heartbeat_interval_ms = 2000});
  std::this_thread::sleep_for(300ms);  // the heartbeat due before the WELCOME went out
  auto count = [&] {
    size_t n = 0;
    for (auto& m : Sent()) n += std::holds_alternative<protocol::Heartbeat>(m);
    return n;
  };
  const size_t before = count();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(count(), before);
}

TEST_F(AgentTest, AssignStreamsProgressCheckpointsAndDoneWithTheFiles) {
  ToWorker(protocol::Assign{
      .trial_id = "t1", .attempt = 1, .job = Job(dir_ + "/t1", 6, "train.jsonl", 2)});
  WaitForType<protocol::Done>("t1");
  auto msgs = About("t1");
  ASSERT_FALSE(msgs.empty());
  ASSERT_TRUE(std::holds_alternative<protocol::Done>(msgs.back()));
  std::map<std::string, int> metric_counts;
  std::vector<int64_t> checkpoints;
  int64_t last_step = 0;
  for (const auto& m : msgs) {
    if (auto* p = std::get_if<protocol::Progress>(&m)) {
      EXPECT_EQ(p->attempt, 1u);
      for (const auto& v : p->metrics) {
        ++metric_counts[v.name];
        EXPECT_GE(v.step, last_step) << "metrics arrive in step order";
        last_step = v.step;
        EXPECT_GT(v.time_ms, 0);
      }
    } else if (auto* c = std::get_if<protocol::Checkpoint>(&m)) {
      checkpoints.push_back(c->step);
      EXPECT_EQ(last_step, c->step) << "a checkpoint follows the metrics of its step";
      EXPECT_TRUE(fs::path(c->path).is_absolute()) << c->path;
    }
  }
  EXPECT_EQ(metric_counts["loss"], 6);
  EXPECT_EQ(metric_counts["lr"], 6);
  EXPECT_EQ(metric_counts["grad_norm"], 6);
  EXPECT_EQ(metric_counts["tokens_per_s"], 6);
  EXPECT_EQ(metric_counts["eval_loss"], 1);
  EXPECT_EQ(checkpoints, (std::vector<int64_t>{2, 4}));
  const auto& done = std::get<protocol::Done>(msgs.back());
  ASSERT_EQ(done.files.size(), 3u);
  EXPECT_EQ(done.files[0].name, "adapter_config.json");
  EXPECT_EQ(done.files[1].name, "adapter_model.safetensors");
  EXPECT_EQ(done.files[1].bytes, "ST");
  EXPECT_EQ(done.files[2].name, "result.json");
  EXPECT_EQ(done.result["completed"], true);
  EXPECT_EQ(done.result["steps"], 6);
}

TEST_F(AgentTest, StopSilencesTheTrialAndAQueuedAssignStartsAfterIt) {
  ToWorker(protocol::Assign{.trial_id = "long", .attempt = 1, .job = Job(dir_ + "/long", 100000)});
  WaitForType<protocol::Progress>("long");
  ToWorker(protocol::Stop{.trial_id = "long", .attempt = 7, .reason = "wrong attempt"});
  ToWorker(protocol::Stop{.trial_id = "other", .attempt = 1, .reason = "not ours"});
  ToWorker(protocol::Stop{.trial_id = "long", .attempt = 1, .reason = "cancelled"});
  ToWorker(protocol::Assign{.trial_id = "next", .attempt = 1, .job = Job(dir_ + "/next", 3)});
  WaitForType<protocol::Done>("next");
  for (const auto& m : About("long")) {
    EXPECT_TRUE(std::holds_alternative<protocol::Progress>(m))
        << "nothing but metrics before the STOP: " << protocol::MessageTypeName(m);
  }
  // After the STOP no heartbeat names the stopped trial.
  const size_t stop_seen = Sent().size();
  WaitFor(
      [&](const protocol::Message& m) { return std::holds_alternative<protocol::Heartbeat>(m); });
  auto sent = Sent();
  for (size_t i = stop_seen; i < sent.size(); ++i) {
    if (auto* h = std::get_if<protocol::Heartbeat>(&sent[i])) {
      for (const auto& r : h->running) EXPECT_NE(r.trial_id, "long");
    }
  }
}

TEST_F(AgentTest, StopWithFinishEndsTheTrialEarlyWithDone) {
  ToWorker(protocol::Assign{.trial_id = "asha", .attempt = 1, .job = Job(dir_ + "/asha", 100000)});
  WaitForType<protocol::Progress>("asha");
  // Not this attempt: ignored. Then the real one, twice (a restarted coordinator repeats it).
  ToWorker(protocol::Stop{.trial_id = "asha", .attempt = 2, .finish = true});
  ToWorker(protocol::Stop{.trial_id = "asha", .attempt = 1, .reason = "asha", .finish = true});
  ToWorker(protocol::Stop{.trial_id = "asha", .attempt = 1, .reason = "asha", .finish = true});
  ToWorker(protocol::Assign{.trial_id = "next", .attempt = 1, .job = Job(dir_ + "/next", 3)});
  WaitForType<protocol::Done>("next");
  auto msgs = About("asha");
  ASSERT_FALSE(msgs.empty());
  ASSERT_TRUE(std::holds_alternative<protocol::Done>(msgs.back()))
      << protocol::MessageTypeName(msgs.back());
  const auto& done = std::get<protocol::Done>(msgs.back());
  EXPECT_EQ(done.result["early_stopped"], true);
  const int64_t steps = done.result["steps"];
  EXPECT_GT(steps, 0);
  EXPECT_LT(steps, 100000);
  EXPECT_EQ(done.result["stopped_at_step"], steps);
  EXPECT_EQ(done.files.size(), 3u);
  for (const auto& m : msgs) {
    EXPECT_FALSE(std::holds_alternative<protocol::Failed>(m));
  }
}

TEST_F(AgentTest, StopOfAQueuedTrialDropsIt) {
  ToWorker(protocol::Assign{.trial_id = "a", .attempt = 1, .job = Job(dir_ + "/a", 100)});
  ToWorker(protocol::Assign{.trial_id = "b", .attempt = 1, .job = Job(dir_ + "/b", 3)});
  WaitFor([](const protocol::Message& m) {
    auto* h = std::get_if<protocol::Heartbeat>(&m);
    return h != nullptr && h->running.size() == 2 && h->running[1].trial_id == "b";
  });
  ToWorker(protocol::Stop{.trial_id = "b", .attempt = 1});
  WaitForType<protocol::Done>("a");
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(About("b").empty());
}

TEST_F(AgentTest, BadJobsAndFailuresAreReportedWithRetryability) {
  Json bad = Job(dir_ + "/bad", 3);
  bad["train"]["lr"] = "fast";
  ToWorker(protocol::Assign{.trial_id = "bad", .attempt = 1, .job = bad});
  ToWorker(
      protocol::Assign{.trial_id = "missing", .attempt = 1, .job = Job(dir_ + "/m", 3, "missing")});
  ToWorker(
      protocol::Assign{.trial_id = "flaky", .attempt = 1, .job = Job(dir_ + "/f", 3, "flaky")});
  ToWorker(protocol::Assign{.trial_id = "nan", .attempt = 1, .job = Job(dir_ + "/n", 3, "nan")});
  auto failed = [&](const std::string& id) {
    const size_t index = WaitForType<protocol::Failed>(id);
    return std::get<protocol::Failed>(Sent().at(index));
  };
  protocol::Failed f = failed("bad");
  EXPECT_FALSE(f.retryable);
  EXPECT_NE(f.reason.find("job.train.lr"), std::string::npos) << f.reason;
  f = failed("missing");
  EXPECT_FALSE(f.retryable);
  EXPECT_NE(f.reason.find("NotFound"), std::string::npos) << f.reason;
  f = failed("flaky");
  EXPECT_TRUE(f.retryable);
  EXPECT_FALSE(f.interrupted);
  f = failed("nan");
  EXPECT_FALSE(f.retryable);
  EXPECT_NE(f.reason.find("NaN"), std::string::npos) << f.reason;
}

TEST_F(AgentTest, ShutdownCheckpointsAndReportsInterrupted) {
  ToWorker(protocol::Assign{.trial_id = "run", .attempt = 3, .job = Job(dir_ + "/run", 100000)});
  ToWorker(protocol::Assign{.trial_id = "wait", .attempt = 1, .job = Job(dir_ + "/wait", 3)});
  WaitForType<protocol::Progress>("run");
  ASSERT_TRUE(Shutdown("SIGTERM").ok());
  auto msgs = About("run");
  ASSERT_GE(msgs.size(), 3u);
  const auto* checkpoint = std::get_if<protocol::Checkpoint>(&msgs[msgs.size() - 2]);
  ASSERT_NE(checkpoint, nullptr);
  const auto* failed = std::get_if<protocol::Failed>(&msgs.back());
  ASSERT_NE(failed, nullptr);
  EXPECT_TRUE(failed->interrupted);
  EXPECT_TRUE(failed->retryable);
  EXPECT_EQ(failed->attempt, 3u);
  EXPECT_EQ(failed->step, checkpoint->step);
  EXPECT_EQ(failed->reason,
            "worker host/0/42 stopped by SIGTERM; resumes from the checkpoint at "
            "step " +
                std::to_string(checkpoint->step));
  auto waiting = About("wait");
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_TRUE(std::get<protocol::Failed>(waiting[0]).interrupted);
}

TEST_F(AgentTest, ShutdownWithNothingRunningExitsAtOnce) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(Shutdown("SIGINT").ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(WorkerIdentityTest, ReadsTheLaunchersEnvironment) {
  auto env_of = [](std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  };
  auto id = DetectIdentity(env_of({{"OMPI_COMM_WORLD_RANK", "3"},
                                   {"OMPI_COMM_WORLD_SIZE", "4"},
                                   {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                                   {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                                   {"PMI_RANK", "9"}}),
                           "node7", 123);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->worker_id, "node7/3/123");
  EXPECT_EQ(id->world_size, 4);
  EXPECT_EQ(id->local_rank, 1);
  EXPECT_EQ(id->local_size, 2);

  id = DetectIdentity(env_of({{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}}), "h", 5);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->rank, 1);
  EXPECT_EQ(id->world_size, 2);
  id = DetectIdentity(
      env_of({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"}}), "h", 5);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->rank, 5);
  EXPECT_EQ(id->local_rank, 1);
  id = DetectIdentity(env_of({}), "h", 5);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->worker_id, "h/0/5");
  EXPECT_EQ(id->world_size, 1);

  id = DetectIdentity(env_of({{"OMPI_COMM_WORLD_RANK", "x"}}), "h", 5);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("OMPI_COMM_WORLD_RANK"), std::string::npos);
}

TEST(WorkerIdentityTest, CpuRanksShareTheHostsThreadsAndMemory) {
  WorkerIdentity one, two;
  two.local_size = 2;
  ASSERT_TRUE(ChooseDevice("cpu", &one).ok());
  ASSERT_TRUE(ChooseDevice("cpu", &two).ok());
  EXPECT_EQ(one.device, "cpu");
  EXPECT_GT(one.memory_bytes, 0);
  EXPECT_EQ(two.memory_bytes, one.memory_bytes / 2);
  EXPECT_GE(two.threads, 1);
  EXPECT_LE(two.threads, std::max(1, one.threads / 2));
  EXPECT_FALSE(ChooseDevice("tpu", &one).ok());
}

TEST(OutboxTest, MetricsPrecedeTheMessageAfterThemAndSilenceDropsAGeneration) {
  Outbox box;
  box.AddMetrics(1, "t", 1, {{1, "loss", 2.0, 5}});
  EXPECT_TRUE(box.Take(false).empty());
  box.Push(1, protocol::Checkpoint{.trial_id = "t", .attempt = 1, .step = 1, .path = "/c"});
  auto out = box.Take(false);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<protocol::Progress>(out[0]).metrics.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<protocol::Checkpoint>(out[1]));

  box.AddMetrics(2, "t", 2, {{1, "loss", 2.0, 5}});
  box.Silence(2);
  box.Push(2, protocol::Failed{.trial_id = "t", .attempt = 2});
  EXPECT_TRUE(box.empty());
  box.AddMetrics(3, "u", 1, {{1, "loss", 2.0, 5}});
  EXPECT_EQ(box.Take(true).size(), 1u);
}

TEST(RetryTest, BadInputIsNotRetryable) {
  EXPECT_FALSE(IsRetryableFailure(StatusCode::kInvalidArgument));
  EXPECT_FALSE(IsRetryableFailure(StatusCode::kNotFound));
  EXPECT_FALSE(IsRetryableFailure(StatusCode::kFailedPrecondition));
  EXPECT_TRUE(IsRetryableFailure(StatusCode::kUnavailable));
  EXPECT_TRUE(IsRetryableFailure(StatusCode::kInternal));
  EXPECT_TRUE(IsRetryableFailure(StatusCode::kResourceExhausted));
  EXPECT_TRUE(IsRetryableFailure(StatusCode::kDataLoss));
}

}  // namespace
}  // namespace lf::worker
