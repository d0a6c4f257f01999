// The agent's logic against an in-memory link and a fake trainer: what it sends, in what order,
// for ASSIGN, STOP, bad jobs, failures and shutdown. No sockets, no training; milliseconds each.
#include "worker/agent/agent.h"

#include <gtest/gtest.h>

#include <atomic>
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

// What the fake trainers write for a completed trial: an adapter folder and result.json.
Status WriteFakeAdapter(const jobs::JobSpec& job, TrainJobResult* r) {
  r->train.adapter_dir = job.output + "/adapter";
  LF_RETURN_IF_ERROR(CreateDirectories(r->train.adapter_dir));
  LF_RETURN_IF_ERROR(WriteFileAtomically(r->train.adapter_dir + "/adapter_config.json", "{}"));
  LF_RETURN_IF_ERROR(WriteFileAtomically(r->train.adapter_dir + "/adapter_model.safetensors", "ST"));
  return WriteFileAtomically(job.output + "/result.json", "{\"ok\":true}");
}

// A trainer that takes `train.steps` steps of 2 ms, checkpoints every train.checkpoint_every,
// honours stop_requested and finish_requested like the real one, and writes an adapter folder
// when it completes.
// data.train selects failures: "missing" (NotFound), "flaky" (Unavailable), "nan".
Result<TrainJobResult> FakeTrain(const jobs::JobSpec& job, const TrainJobOptions& options) {
  if (job.data.train == "missing") return NotFound("reading missing: no such file");
  if (job.data.train == "flaky") return Unavailable("the GPU went away");
  TrainJobResult r;
  r.train.stop_reason = jobs::StopReason::kCompleted;
  int64_t step = 0;
  for (; step < job.train.steps; ++step) {
    if (options.stop_requested && options.stop_requested()) {
      r.train.stop_reason = jobs::StopReason::kStopped;
      break;
    }
    if (options.finish_requested && options.finish_requested()) {
      r.train.stop_reason = jobs::StopReason::kEarlyStopped;
      break;
    }
    std::this_thread::sleep_for(2ms);
    if (job.data.train == "nan" && step == 1) {
      r.train.stop_reason = jobs::StopReason::kDiverged;
      r.train.stop_detail = "the loss became NaN at step 2; lower train.lr or check the data";
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
  if (r.train.stop_reason == jobs::StopReason::kStopped && options.on_checkpoint) {
    options.on_checkpoint(step, job.output + "/checkpoints/checkpoint-" + std::to_string(step));
  }
  if (r.train.completed()) LF_RETURN_IF_ERROR(WriteFakeAdapter(job, &r));
  return r;
}

// A pack of fake trainers: each Step takes one 2 ms step of every member, as FakeTrain does for
// one trial, and records which members it stepped. Joins and stops as the real pack's.
class FakePack final : public TrainPack {
 public:
  explicit FakePack(std::shared_ptr<std::vector<std::vector<std::string>>> log)
      : log_(std::move(log)) {}

  Status Add(const std::string& id, const jobs::JobSpec& job,
             const TrainJobOptions& options) override {
    if (job.data.train == "missing") return NotFound("reading missing: no such file");
    members_.push_back({id, job, options, 0});
    return Status::Ok();
  }

  std::vector<Finished> Step() override {
    std::this_thread::sleep_for(2ms);
    std::vector<std::string> stepped;
    std::vector<Finished> out;
    for (auto it = members_.begin(); it != members_.end();) {
      Member& m = *it;
      TrainJobResult r;
      r.train.steps = m.step;
      if (m.options.stop_requested()) {
        r.train.stop_reason = jobs::StopReason::kStopped;
        m.options.on_checkpoint(m.step,
                                m.job.output + "/checkpoints/checkpoint-" + std::to_string(m.step));
      } else if (m.options.finish_requested()) {
        r.train.stop_reason = jobs::StopReason::kEarlyStopped;
      } else {
        stepped.push_back(m.id);
        ++m.step;
        m.options.on_step({.step = m.step, .loss = 1.0 / m.step, .tokens_per_s = 1000});
        r.train.steps = m.step;
        if (m.step < m.job.train.steps) {
          ++it;
          continue;
        }
        r.train.stop_reason = jobs::StopReason::kCompleted;
      }
      Result<TrainJobResult> result = r;
      if (r.train.completed()) {
        if (Status st = WriteFakeAdapter(m.job, &*result); !st.ok()) result = st;
      }
      out.push_back({m.id, std::move(result)});
      it = members_.erase(it);
    }
    log_->push_back(std::move(stepped));
    return out;
  }

  size_t size() const override { return members_.size(); }

 private:
  struct Member {
    std::string id;
    jobs::JobSpec job;
    TrainJobOptions options;
    int64_t step;
  };
  std::shared_ptr<std::vector<std::vector<std::string>>> log_;
  std::vector<Member> members_;
};

jobs::JobSpec Job(const std::string& output, int64_t steps, const std::string& train = "train.jsonl",
                  int64_t checkpoint_every = 0) {
  jobs::JobSpec job;
  job.base_model = "base";
  job.data.train = train;
  job.train.steps = steps;
  job.train.checkpoint_every = checkpoint_every;
  job.output = output;
  return job;
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
    auto log = pack_log_;
    auto opened = packs_opened_;
    agent_ = std::make_unique<Agent>(
        AgentOptions{.coordinator = "fake", .heartbeat_ms = 30, .handle_signals = false}, id,
        std::make_unique<FakeLink>(shared_), FakeTrain,
        [log, opened](const jobs::JobSpec& job,
                      const std::string& /*device*/) -> Result<std::unique_ptr<TrainPack>> {
          if (job.base_model == "missing") return NotFound("no model folder missing");
          ++*opened;
          return std::unique_ptr<TrainPack>(std::make_unique<FakePack>(log));
        });
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
  // The fake packs' steps (the trials each stepped) and how many packs were opened; written by
  // the training thread, read once it has ended.
  std::shared_ptr<std::vector<std::vector<std::string>>> pack_log_ =
      std::make_shared<std::vector<std::vector<std::string>>>();
  std::shared_ptr<std::atomic<int>> packs_opened_ = std::make_shared<std::atomic<int>>(0);
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
  EXPECT_EQ(jobs::HasFinalOutputs(done.result.stop_reason), true);
  EXPECT_EQ(done.result.steps, 6);
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
  EXPECT_EQ(done.result.early_stopped(), true);
  const int64_t steps = done.result.steps;
  EXPECT_GT(steps, 0);
  EXPECT_LT(steps, 100000);
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
  ToWorker(
      protocol::Assign{.trial_id = "missing", .attempt = 1, .job = Job(dir_ + "/m", 3, "missing")});
  ToWorker(
      protocol::Assign{.trial_id = "flaky", .attempt = 1, .job = Job(dir_ + "/f", 3, "flaky")});
  ToWorker(protocol::Assign{.trial_id = "nan", .attempt = 1, .job = Job(dir_ + "/n", 3, "nan")});
  auto failed = [&](const std::string& id) {
    const size_t index = WaitForType<protocol::Failed>(id);
    return std::get<protocol::Failed>(Sent().at(index));
  };
  // (A job that does not parse never reaches a worker: the ASSIGN would not decode.)
  // A file the coordinator saw at submission but this worker cannot: another host may.
  protocol::Failed f = failed("missing");
  EXPECT_TRUE(f.retryable);
  EXPECT_NE(f.reason.find("NotFound: reading missing"), std::string::npos) << f.reason;
  EXPECT_NE(f.reason.find("worker host/0/42 on host host cannot read it"), std::string::npos)
      << f.reason;
  EXPECT_NE(f.reason.find("filesystem they share"), std::string::npos) << f.reason;
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

protocol::Assign Packed(const std::string& id, jobs::JobSpec job) {
  return {.trial_id = id, .attempt = 1, .job = std::move(job), .pack_key = "k"};
}

TEST_F(AgentTest, TrialsOfOnePackKeyTrainTogetherAndOthersWaitForThePack) {
  ToWorker(Packed("a", Job(dir_ + "/a", 100000)));
  WaitForType<protocol::Progress>("a");
  ToWorker(Packed("b", Job(dir_ + "/b", 40)));  // joins the running pack
  ToWorker(protocol::Assign{.trial_id = "alone", .attempt = 1, .job = Job(dir_ + "/alone", 3)});
  ToWorker(Packed("c", Job(dir_ + "/c", 5)));  // waits behind "alone", as it came after it
  WaitFor([](const protocol::Message& m) {
    auto* h = std::get_if<protocol::Heartbeat>(&m);
    return h != nullptr && h->running.size() == 4 && h->running[0].trial_id == "a" &&
           h->running[1].trial_id == "b" && h->tokens_per_s == 2000;
  });
  const size_t b_done = WaitForType<protocol::Done>("b");
  EXPECT_TRUE(About("a").size() > 0 && !std::holds_alternative<protocol::Done>(About("a").back()))
      << "b joined a's pack rather than waiting for it";
  ToWorker(protocol::Stop{.trial_id = "a", .attempt = 1, .reason = "asha", .finish = true});
  const size_t a_done = WaitForType<protocol::Done>("a");
  const size_t alone_progress = WaitForType<protocol::Progress>("alone");
  EXPECT_GT(alone_progress, a_done) << "a trial without a key waits until the pack has ended";
  const size_t c_progress = WaitForType<protocol::Progress>("c");
  EXPECT_GT(c_progress, WaitForType<protocol::Done>("alone"));
  WaitForType<protocol::Done>("c");
  ASSERT_TRUE(Shutdown("test").ok());
  EXPECT_EQ(packs_opened_->load(), 2);  // a and b's, then c's
  // While both were in the pack, every step stepped both.
  size_t both = 0;
  for (const auto& stepped : *pack_log_) {
    both += stepped == std::vector<std::string>{"a", "b"} ? 1 : 0;
  }
  EXPECT_EQ(both, 40u);
  const auto sent = Sent();
  const auto& done = std::get<protocol::Done>(sent.at(b_done));
  EXPECT_EQ(done.result.steps, 40);
  EXPECT_EQ(done.files.size(), 3u);
}

TEST_F(AgentTest, APackMemberStopsOrFinishesEarlyAloneAndShutdownInterruptsTheRest) {
  for (const char* id : {"stop", "finish", "rest"}) {
    ToWorker(Packed(id, Job(dir_ + "/" + id, 100000)));
  }
  for (const char* id : {"stop", "finish", "rest"}) WaitForType<protocol::Progress>(id);
  ToWorker(protocol::Stop{.trial_id = "stop", .attempt = 1, .reason = "cancelled"});
  ToWorker(protocol::Stop{.trial_id = "finish", .attempt = 1, .reason = "asha", .finish = true});
  const size_t finished = WaitForType<protocol::Done>("finish");
  const auto sent = Sent();
  EXPECT_EQ(std::get<protocol::Done>(sent.at(finished)).result.early_stopped(), true);
  WaitFor([](const protocol::Message& m) {
    auto* h = std::get_if<protocol::Heartbeat>(&m);
    return h != nullptr && h->running.size() == 1 && h->running[0].trial_id == "rest";
  });
  ASSERT_TRUE(Shutdown("SIGTERM").ok());
  for (const auto& m : About("stop")) {
    EXPECT_TRUE(std::holds_alternative<protocol::Progress>(m))
        << "nothing but metrics before the STOP: " << protocol::MessageTypeName(m);
  }
  auto rest = About("rest");
  ASSERT_GE(rest.size(), 2u);
  ASSERT_TRUE(std::holds_alternative<protocol::Checkpoint>(rest[rest.size() - 2]));
  const auto* failed = std::get_if<protocol::Failed>(&rest.back());
  ASSERT_NE(failed, nullptr);
  EXPECT_TRUE(failed->interrupted && failed->retryable);
  EXPECT_EQ(failed->step, std::get<protocol::Checkpoint>(rest[rest.size() - 2]).step);
}

TEST_F(AgentTest, APackThatCannotOpenOrATrialThatCannotJoinFailsOnlyThatTrial) {
  jobs::JobSpec no_model = Job(dir_ + "/no_model", 3);
  no_model.base_model = "missing";
  ToWorker(Packed("no_model", no_model));
  ToWorker(Packed("good", Job(dir_ + "/good", 40)));
  ToWorker(Packed("no_data", Job(dir_ + "/no_data", 3, "missing")));
  auto failed = [&](const std::string& id) {
    const size_t index = WaitForType<protocol::Failed>(id);
    return std::get<protocol::Failed>(Sent().at(index));
  };
  protocol::Failed f = failed("no_model");
  EXPECT_TRUE(f.retryable);
  EXPECT_NE(f.reason.find("no model folder missing"), std::string::npos) << f.reason;
  f = failed("no_data");
  EXPECT_TRUE(f.retryable);
  EXPECT_NE(f.reason.find("reading missing"), std::string::npos) << f.reason;
  WaitForType<protocol::Done>("good");
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
  EXPECT_EQ(id->local_size, 1);  // srun without --ntasks-per-node does not say
  // srun with --ntasks-per-node (cluster/slurm/lorafleet.sbatch): the ranks on a node.
  id = DetectIdentity(env_of({{"SLURM_PROCID", "5"},
                              {"SLURM_NTASKS", "8"},
                              {"SLURM_LOCALID", "1"},
                              {"SLURM_NTASKS_PER_NODE", "4"}}),
                      "h", 5);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->local_size, 4);
  id = DetectIdentity(
      env_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_NTASKS_PER_NODE", "many"}}),
      "h", 5);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("SLURM_NTASKS_PER_NODE"), std::string::npos);
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

// A rank launched alone to replace a dead one counts only itself; OMP_NUM_THREADS sets its share.
TEST(WorkerIdentityTest, OmpNumThreadsOverridesTheRanksShare) {
  EXPECT_EQ(CpuThreads(8, 2, nullptr), 4);
  EXPECT_EQ(CpuThreads(2, 3, nullptr), 1);
  EXPECT_EQ(CpuThreads(2, 1, "1"), 1);
  EXPECT_EQ(CpuThreads(8, 4, "3"), 3);
  for (const char* ignored : {"", "0", "-2", "two", "2x", "99999"}) {
    EXPECT_EQ(CpuThreads(8, 2, ignored), 4) << "OMP_NUM_THREADS=" << ignored;
  }
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

  // A pack's trials interleave their metrics: still one PROGRESS each per flush.
  for (int64_t step = 1; step <= 3; ++step) {
    box.AddMetrics(4, "p", 1, {{step, "loss", 1.0, 5}});
    box.AddMetrics(5, "q", 1, {{step, "loss", 1.0, 5}});
  }
  box.Push(5, protocol::Checkpoint{.trial_id = "q", .attempt = 1, .step = 3, .path = "/c"});
  out = box.Take(false);  // q's metrics go before its checkpoint; p's wait for the flush
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<protocol::Progress>(out[0]).trial_id, "q");
  EXPECT_EQ(std::get<protocol::Progress>(out[0]).metrics.size(), 3u);
  out = box.Take(true);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<protocol::Progress>(out[0]).trial_id, "p");
  EXPECT_EQ(std::get<protocol::Progress>(out[0]).metrics.size(), 3u);
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
