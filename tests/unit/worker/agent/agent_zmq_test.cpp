// The agent against a real ZeroMQ ROUTER playing the coordinator, training the bundled tiny
// GPT-2 for a few steps: registration, PROGRESS/CHECKPOINT/DONE with the adapter bytes, STOP,
// a bad data file, heartbeats during training, and SIGTERM to the real lorafleet-worker binary.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include "worker/agent/agent.h"
#include "worker/agent/device.h"

extern char** environ;

namespace lf::worker {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kRoot = std::string(LF_TEST_SRCDIR) + "/../../..";

jobs::JobSpec TinyJob(const std::string& output, int64_t steps, int64_t checkpoint_every,
                      const std::string& train = kRoot + "/examples/data/medical/train.jsonl") {
  return *jobs::ParseJobSpec({
      {"base_model", kRoot + "/examples/models/tiny-gpt2"},
      {"data",
       {{"train", train}, {"eval", kRoot + "/examples/data/medical/eval.jsonl"}, {"seq_len", 32}}},
      {"method", "lora"},
      {"lora", {{"r", 4}, {"alpha", 8}}},
      {"train",
       {{"steps", steps},
        {"batch_size", 2},
        {"lr", 1e-3},
        {"checkpoint_every", checkpoint_every},
        {"eval_batches", 2},
        {"log_every", 1000}}},
      {"output", output}});
}

struct Received {
  std::string from;
  protocol::Message message;
};

// The coordinator's end: a ROUTER on a free port that records everything it receives.
class FakeCoordinator {
 public:
  FakeCoordinator() : socket_(context_, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

  void SendTo(const std::string& worker, const protocol::Message& m) {
    std::vector<std::string> frames = protocol::Encode(m);
    frames.insert(frames.begin(), worker);
    std::vector<zmq::const_buffer> buffers;
    for (const auto& f : frames) buffers.push_back(zmq::buffer(f));
    ASSERT_TRUE(zmq::send_multipart(socket_, buffers));
  }

  // Receives until `pred` holds for a message; returns it (nullopt on timeout).
  std::optional<Received> WaitFor(const std::function<bool(const protocol::Message&)>& pred,
                                  std::chrono::milliseconds timeout = 20000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}};
      if (zmq::poll(items, 1, 50ms) == 0) continue;
      std::vector<zmq::message_t> parts;
      EXPECT_TRUE(zmq::recv_multipart(socket_, std::back_inserter(parts)));
      std::vector<std::string> frames;
      for (size_t i = 1; i < parts.size(); ++i) frames.push_back(parts[i].to_string());
      auto decoded = protocol::Decode(std::move(frames));
      EXPECT_TRUE(decoded.ok()) << decoded.status().ToString();
      if (!decoded.ok()) continue;
      Received r{parts[0].to_string(), std::move(decoded).value()};
      log_.push_back(r);
      if (pred(r.message)) return r;
    }
    return std::nullopt;
  }
  template <typename T>
  std::optional<T> WaitForType(const std::string& trial_id = "",
                               std::chrono::milliseconds timeout = 20000ms) {
    auto r = WaitFor(
        [&](const protocol::Message& m) {
          auto* t = std::get_if<T>(&m);
          if (t == nullptr) return false;
          if constexpr (requires { t->trial_id; })
            return trial_id.empty() || t->trial_id == trial_id;
          return true;
        },
        timeout);
    if (!r) return std::nullopt;
    return std::get<T>(r->message);
  }
  // A ROUTER drops what it sends to a peer it has not heard from, so a coordinator (and each
  // test) addresses a worker only after its HELLO.
  void WaitForHello(const std::string& worker) {
    ASSERT_TRUE(WaitFor([&](const protocol::Message& m) {
      auto* h = std::get_if<protocol::Hello>(&m);
      return h != nullptr && h->worker_id == worker;
    })) << "no HELLO from "
        << worker;
  }
  // Every message received so far of type T.
  template <typename T>
  std::vector<T> All() const {
    std::vector<T> out;
    for (const auto& r : log_) {
      if (auto* t = std::get_if<T>(&r.message)) out.push_back(*t);
    }
    return out;
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::string endpoint_;
  std::vector<Received> log_;
};

// An in-process agent connected to `coordinator`, stopped (as SIGTERM would) at the end.
class InProcessWorker {
 public:
  explicit InProcessWorker(const std::string& endpoint, int64_t heartbeat_ms = 100) {
    auto id =
        DetectIdentity([](const char*) -> const char* { return nullptr; }, "testhost", getpid());
    EXPECT_TRUE(id.ok());
    WorkerIdentity identity = *id;
    EXPECT_TRUE(ChooseDevice("cpu", &identity).ok());
    auto link = ConnectToCoordinator(endpoint, identity.worker_id);
    EXPECT_TRUE(link.ok()) << link.status().ToString();
    agent_ = std::make_unique<Agent>(
        AgentOptions{
            .coordinator = endpoint, .heartbeat_ms = heartbeat_ms, .handle_signals = false},
        identity, std::move(link).value());
    thread_ = std::thread([this] { status_ = agent_->Run(); });
  }
  ~InProcessWorker() { (void)Stop(); }
  Status Stop() {
    if (thread_.joinable()) {
      agent_->RequestShutdown("SIGTERM");
      thread_.join();
    }
    return status_;
  }
  const std::string& id() const { return agent_->identity().worker_id; }

 private:
  std::unique_ptr<Agent> agent_;
  std::thread thread_;
  Status status_;
};

std::string TempDir(const std::string& name) {
  auto dir = fs::path(::testing::TempDir()) / ("lf_agent_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

TEST(AgentZmqTest, RegistersTrainsAndSendsTheAdapter) {
  FakeCoordinator coordinator;
  InProcessWorker worker(coordinator.endpoint());
  auto hello = coordinator.WaitFor(
      [](const protocol::Message& m) { return std::holds_alternative<protocol::Hello>(m); });
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->from, worker.id()) << "the routing id is the worker id";
  const auto& h = std::get<protocol::Hello>(hello->message);
  EXPECT_EQ(h.worker_id, "testhost/0/" + std::to_string(getpid()));
  EXPECT_EQ(h.host, "testhost");
  EXPECT_EQ(h.pid, getpid());
  EXPECT_EQ(h.world_size, 1);
  EXPECT_EQ(h.device, "cpu");
  EXPECT_GT(h.memory_bytes, 0);
  EXPECT_TRUE(h.running.empty());
  coordinator.SendTo(worker.id(), protocol::Welcome{.heartbeat_interval_ms = 100});

  const std::string out = TempDir("train");
  coordinator.SendTo(
      worker.id(),
      protocol::Assign{.trial_id = "s-000001", .attempt = 1, .job = TinyJob(out, 4, 2)});
  auto done = coordinator.WaitForType<protocol::Done>("s-000001");
  ASSERT_TRUE(done) << "no DONE";
  for (const auto& f : coordinator.All<protocol::Failed>()) ADD_FAILURE() << f.reason;
  EXPECT_EQ(done->attempt, 1u);
  EXPECT_EQ(jobs::HasFinalOutputs(done->result.stop_reason), true);
  EXPECT_EQ(done->result.steps, 4);
  std::map<std::string, size_t> sizes;
  for (const auto& f : done->files) sizes[f.name] = f.bytes.size();
  EXPECT_GT(sizes["adapter_model.safetensors"], 0u);
  EXPECT_GT(sizes["adapter_config.json"], 0u);
  EXPECT_GT(sizes["result.json"], 0u);

  size_t losses = 0;
  for (const auto& p : coordinator.All<protocol::Progress>()) {
    EXPECT_EQ(p.trial_id, "s-000001");
    for (const auto& v : p.metrics) losses += v.name == "loss";
  }
  EXPECT_EQ(losses, 4u);
  auto checkpoints = coordinator.All<protocol::Checkpoint>();
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_EQ(checkpoints[0].step, 2);
  EXPECT_EQ(fs::path(checkpoints[0].path).filename(), "checkpoint-2");
  EXPECT_TRUE(worker.Stop().ok());
}

TEST(AgentZmqTest, StopCheckpointsAndHeartbeatsContinueWhileTraining) {
  FakeCoordinator coordinator;
  InProcessWorker worker(coordinator.endpoint(), /*heartbeat_ms=*/100);
  coordinator.WaitForHello(worker.id());
  const std::string out = TempDir("stop");
  coordinator.SendTo(
      worker.id(),
      protocol::Assign{.trial_id = "s-000002", .attempt = 4, .job = TinyJob(out, 100000, 0)});
  // A heartbeat naming the trial at a step past 0: the loop beats while the thread trains.
  auto beat = coordinator.WaitFor([](const protocol::Message& m) {
    auto* h = std::get_if<protocol::Heartbeat>(&m);
    return h != nullptr && h->running.size() == 1 && h->running[0].step > 0;
  });
  ASSERT_TRUE(beat) << "no heartbeat during training";
  const auto& h = std::get<protocol::Heartbeat>(beat->message);
  EXPECT_EQ(h.running[0].trial_id, "s-000002");
  EXPECT_EQ(h.running[0].attempt, 4u);
  EXPECT_GT(h.tokens_per_s, 0);

  coordinator.SendTo(worker.id(),
                     protocol::Stop{.trial_id = "s-000002", .attempt = 4, .reason = "cancelled"});
  // The next trial waits for the stopped one to checkpoint; its FAILED proves that is done.
  coordinator.SendTo(
      worker.id(), protocol::Assign{.trial_id = "s-000003",
                                    .attempt = 1,
                                    .job = TinyJob(TempDir("missing"), 4, 0, out + "/nope.jsonl")});
  auto failed = coordinator.WaitForType<protocol::Failed>("s-000003");
  ASSERT_TRUE(failed);
  bool found = false;
  for (const auto& e : fs::directory_iterator(out + "/checkpoints")) {
    found |= e.path().filename().string().rfind("checkpoint-", 0) == 0 &&
             fs::exists(e.path() / "state.json");
  }
  EXPECT_TRUE(found) << "no complete checkpoint in " << out << "/checkpoints";
  for (const auto& c : coordinator.All<protocol::Checkpoint>()) {
    ADD_FAILURE() << "CHECKPOINT sent for a stopped attempt: " << c.path;
  }
  for (const auto& f : coordinator.All<protocol::Failed>()) {
    EXPECT_NE(f.trial_id, "s-000002") << "FAILED sent for a stopped attempt: " << f.reason;
  }
  EXPECT_TRUE(coordinator.All<protocol::Done>().empty());
  EXPECT_TRUE(worker.Stop().ok());
}

// Early stopping's STOP: training ends at the next step boundary, and the trial ends like a
// completed one (final eval, the adapter exported) with DONE saying where it stopped.
TEST(AgentZmqTest, StopWithFinishEndsTheTrialEarlyWithItsAdapter) {
  FakeCoordinator coordinator;
  InProcessWorker worker(coordinator.endpoint());
  coordinator.WaitForHello(worker.id());
  const std::string out = TempDir("finish");
  coordinator.SendTo(
      worker.id(),
      protocol::Assign{.trial_id = "s-000004", .attempt = 1, .job = TinyJob(out, 100000, 0)});
  ASSERT_TRUE(coordinator.WaitForType<protocol::Progress>("s-000004"));
  coordinator.SendTo(worker.id(), protocol::Stop{.trial_id = "s-000004",
                                                 .attempt = 1,
                                                 .reason = "early stopping (asha): test",
                                                 .finish = true});
  auto done = coordinator.WaitForType<protocol::Done>("s-000004");
  ASSERT_TRUE(done) << "no DONE after STOP with finish";
  for (const auto& f : coordinator.All<protocol::Failed>()) ADD_FAILURE() << f.reason;
  const int64_t steps = done->result.steps;
  EXPECT_GT(steps, 0);
  EXPECT_LT(steps, 100000);
  EXPECT_EQ(jobs::HasFinalOutputs(done->result.stop_reason), true);
  EXPECT_EQ(done->result.early_stopped(), true);
  EXPECT_TRUE(done->result.eval_loss.has_value()) << "no final evaluation";
  std::map<std::string, std::string> files;
  for (const auto& f : done->files) files[f.name] = f.bytes;
  EXPECT_GT(files["adapter_model.safetensors"].size(), 0u);
  auto result = ParseJson(files["result.json"], "result.json");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ((*result)["early_stopped"], true);
  EXPECT_EQ((*result)["stopped_at_step"], steps);
  EXPECT_FALSE(fs::exists(out + "/checkpoints")) << "a finished trial keeps no checkpoints";
  EXPECT_TRUE(worker.Stop().ok());
}

// The coordinator checked the file at submission: this worker not finding it means its host does
// not see it, so the attempt is retried (elsewhere, perhaps) with a reason naming the host.
TEST(AgentZmqTest, AMissingDataFileIsRetriedNamingTheWorkersHost) {
  FakeCoordinator coordinator;
  InProcessWorker worker(coordinator.endpoint());
  coordinator.WaitForHello(worker.id());
  const std::string out = TempDir("missing_data");
  coordinator.SendTo(worker.id(),
                     protocol::Assign{.trial_id = "s-000004",
                                      .attempt = 1,
                                      .job = TinyJob(out, 4, 0, out + "/no-such-file.jsonl")});
  auto failed = coordinator.WaitForType<protocol::Failed>("s-000004");
  ASSERT_TRUE(failed);
  EXPECT_TRUE(failed->retryable);
  EXPECT_FALSE(failed->interrupted);
  EXPECT_NE(failed->reason.find("no-such-file.jsonl"), std::string::npos) << failed->reason;
  EXPECT_NE(failed->reason.find("on host testhost"), std::string::npos) << failed->reason;
}

// The real binary, as mpirun starts it: SIGTERM mid-trial checkpoints, reports FAILED
// interrupted with the checkpoint's step, and exits 0.
TEST(AgentBinaryTest, SigtermCheckpointsReportsAndExitsZero) {
  const std::string binary = std::string(LF_TEST_BINDIR) + "/lorafleet-worker";
  if (!fs::exists(binary)) GTEST_SKIP() << binary << " is not built";
  FakeCoordinator coordinator;
  const std::string out = TempDir("sigterm");
  const std::string log = out + "/worker.log";
  std::vector<std::string> args = {
      binary, "--coordinator", coordinator.endpoint(), "--heartbeat-ms", "100", "--device", "cpu"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  auto worker_log = [&] {
    std::ifstream in(log);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };

  auto hello = coordinator.WaitFor(
      [](const protocol::Message& m) { return std::holds_alternative<protocol::Hello>(m); });
  ASSERT_TRUE(hello) << worker_log();
  EXPECT_EQ(std::get<protocol::Hello>(hello->message).pid, pid);
  coordinator.SendTo(
      hello->from,
      protocol::Assign{.trial_id = "s-000005", .attempt = 2, .job = TinyJob(out, 100000, 0)});
  ASSERT_TRUE(coordinator.WaitForType<protocol::Progress>("s-000005")) << worker_log();
  ::kill(pid, SIGTERM);
  auto failed = coordinator.WaitForType<protocol::Failed>("s-000005");
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(failed) << worker_log();
  EXPECT_TRUE(failed->interrupted);
  EXPECT_TRUE(failed->retryable);
  EXPECT_GT(failed->step, 0);
  EXPECT_NE(failed->reason.find("stopped by SIGTERM; resumes from the checkpoint at step " +
                                std::to_string(failed->step)),
            std::string::npos)
      << failed->reason;
  EXPECT_TRUE(
      fs::exists(out + "/checkpoints/checkpoint-" + std::to_string(failed->step) + "/state.json"));
  auto checkpoints = coordinator.All<protocol::Checkpoint>();
  ASSERT_FALSE(checkpoints.empty());
  EXPECT_EQ(checkpoints.back().step, failed->step);
  ASSERT_TRUE(WIFEXITED(status)) << worker_log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << worker_log();
}

TEST(AgentBinaryTest, BadFlagsExitWithUsage) {
  const std::string binary = std::string(LF_TEST_BINDIR) + "/lorafleet-worker";
  if (!fs::exists(binary)) GTEST_SKIP() << binary << " is not built";
  for (const char* flags : {"--heartbeat-ms 0 --coordinator tcp://127.0.0.1:1",
                            "--device tpu --coordinator tcp://127.0.0.1:1", "--bogus", ""}) {
    const std::string cmd =
        "env -u LORAFLEET_WORKER_ENDPOINT " + binary + " " + flags + " 2>/dev/null";
    const int status = std::system(cmd.c_str());  // NOLINT: a test
    ASSERT_TRUE(WIFEXITED(status)) << flags;
    EXPECT_EQ(WEXITSTATUS(status), 2) << flags;
  }
}

}  // namespace
}  // namespace lf::worker
