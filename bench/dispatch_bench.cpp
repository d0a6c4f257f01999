// dispatch_bench: how many trials a real coordinator (the lorafleetd binary, its RocksDB store and
// its ZeroMQ router) hands out and completes per second with a large queue, and how long a worker
// waits between finishing one trial and receiving the next (dispatch latency). Simulated workers
// on ZeroMQ DEALER sockets answer every ASSIGN with a DONE carrying a small adapter file at once,
// so the coordinator is the bottleneck. The baseline, in the same run, is a bare ZeroMQ
// ROUTER/DEALER request/reply loop with the same number of peers and message sizes: the
// transport's own limit.
//
//   dispatch_bench [--trials N] [--workers W] [--adapter-bytes B] [--dir DIR]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/flags.h"
#include "common/http_client.h"
#include "common/json_reader.h"
#include "jobs/protocol.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  int64_t trials = 100'000;
  int workers = 64;
  int64_t adapter_bytes = 4096;
  std::string dir = "/tmp/lf_dispatch_bench";
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "dispatch_bench: %s\n", what.c_str());
  std::exit(1);
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct Result {
  int64_t done = 0;
  double seconds = 0;
  std::vector<double> latency_ms;  // free -> next assignment
};

// The coordinator under test, as a child process.
struct Daemon {
  pid_t pid = -1;
  std::string http, workers;
  ~Daemon() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

void StartDaemon(const std::string& bin_dir, const Options& opt, Daemon* d) {
  const std::string endpoint_file = opt.dir + "/coordinator.json";
  d->pid = fork();
  if (d->pid == 0) {
    const std::string log = opt.dir + "/lorafleetd.log";
    if (!freopen(log.c_str(), "w", stderr) || !freopen(log.c_str(), "a", stdout)) _exit(127);
    execl((bin_dir + "/lorafleetd").c_str(), "lorafleetd", "--store", (opt.dir + "/store").c_str(),
          "--runs", (opt.dir + "/runs").c_str(), "--http", "127.0.0.1:0", "--workers",
          "tcp://127.0.0.1:0", "--endpoint-file", endpoint_file.c_str(), "--heartbeat-timeout",
          "600", nullptr);
    _exit(127);
  }
  for (int i = 0; i < 200 && !fs::exists(endpoint_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::ifstream in(endpoint_file);
  std::stringstream text;
  text << in.rdbuf();
  auto j = lf::ParseJson(text.str(), endpoint_file);
  if (!j.ok()) Die("lorafleetd did not start; see " + opt.dir + "/lorafleetd.log");
  d->http = (*j)["http"];
  d->workers = (*j)["workers"];
}

std::string SubmitSweep(const Daemon& d, const Options& opt, const std::string& repo) {
  // One sweep of N trials: a grid over train.seed.
  std::string spec =
      "name: dispatch-bench\nbase:\n  base_model: examples/models/tiny-gpt2\n"
      "  data: {train: examples/data/medical/train.jsonl}\n  train: {steps: 1}\n"
      "space:\n  train.seed: {int: [0, 1000000000]}\nsearch: random\nnum_samples: " +
      std::to_string(opt.trials) + "\n";
  lf::Json body = {{"spec", spec}, {"base_dir", repo}, {"owner", "bench"}};
  auto t0 = Clock::now();
  auto reply = lf::HttpCall(d.http, "POST", "/v1/sweeps", body.dump(), "application/json",
                            {.timeout = std::chrono::minutes(5)});
  if (!reply.ok() || reply->status != 201) {
    Die("submitting: " + (reply.ok() ? reply->body : reply.status().ToString()));
  }
  std::printf("submitted %lld trials in %.2f s\n", static_cast<long long>(opt.trials),
              Seconds(t0, Clock::now()));
  return lf::ParseJson(reply->body, "reply").value()["sweep"]["id"];
}

// W simulated workers on one thread: HELLO, then DONE for every ASSIGN.
Result RunWorkers(const std::string& endpoint, const Options& opt) {
  zmq::context_t ctx(1);
  std::vector<zmq::socket_t> sockets;
  std::vector<Clock::time_point> freed(opt.workers);
  const std::string adapter(static_cast<size_t>(opt.adapter_bytes), 'a');
  for (int w = 0; w < opt.workers; ++w) {
    sockets.emplace_back(ctx, zmq::socket_type::dealer);
    const std::string id = "bench/" + std::to_string(w) + "/0";
    sockets.back().set(zmq::sockopt::routing_id, id);
    sockets.back().set(zmq::sockopt::linger, 0);
    sockets.back().connect(endpoint);
    lf::protocol::Hello hello{.worker_id = id, .rank = w, .world_size = opt.workers,
                              .host = "bench", .device = "cpu", .memory_bytes = int64_t{1} << 34};
    for (auto& f : lf::protocol::Encode(hello)) {
      sockets.back().send(zmq::buffer(f), zmq::send_flags::none);
    }
    freed[w] = Clock::now();
  }
  std::vector<zmq::pollitem_t> items;
  for (auto& s : sockets) items.push_back({static_cast<void*>(s), 0, ZMQ_POLLIN, 0});
  Result r;
  r.latency_ms.reserve(static_cast<size_t>(opt.trials));
  Clock::time_point start{}, last{};
  while (r.done < opt.trials) {
    if (zmq::poll(items.data(), items.size(), std::chrono::milliseconds(30000)) == 0) {
      Die("no message from the coordinator for 30 s after " + std::to_string(r.done) + " trials");
    }
    for (int w = 0; w < opt.workers; ++w) {
      if (!(items[w].revents & ZMQ_POLLIN)) continue;
      while (true) {
        std::vector<std::string> frames;
        zmq::message_t part;
        if (!sockets[w].recv(part, zmq::recv_flags::dontwait)) break;
        frames.push_back(part.to_string());
        while (part.more()) {
          (void)sockets[w].recv(part, zmq::recv_flags::none);
          frames.push_back(part.to_string());
        }
        auto m = lf::protocol::Decode(std::move(frames));
        if (!m.ok() || !std::holds_alternative<lf::protocol::Assign>(*m)) continue;
        const auto& a = std::get<lf::protocol::Assign>(*m);
        const auto now = Clock::now();
        if (r.done == 0 && start == Clock::time_point{}) start = now;
        r.latency_ms.push_back(std::chrono::duration<double, std::milli>(now - freed[w]).count());
        lf::protocol::Done done{.trial_id = a.trial_id,
                                .attempt = a.attempt,
                                .result = {.eval_loss = 1.0},
                                .files = {{"adapter_model.safetensors", adapter}}};
        auto out = lf::protocol::Encode(done);
        for (size_t i = 0; i < out.size(); ++i) {
          sockets[w].send(zmq::buffer(out[i]),
                          i + 1 < out.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
        }
        freed[w] = Clock::now();
        last = freed[w];
        ++r.done;
      }
    }
  }
  r.seconds = Seconds(start, last);
  return r;
}

// The baseline: a ROUTER that answers each request at once, W DEALERs sending DONE-sized
// requests and receiving ASSIGN-sized replies.
Result RunBareLoop(const Options& opt, size_t request_bytes, size_t reply_bytes) {
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  std::thread server([&] {
    const std::string reply(reply_bytes, 'r');
    for (int64_t i = 0; i < opt.trials + opt.workers; ++i) {
      zmq::message_t id, body;
      (void)router.recv(id);
      (void)router.recv(body);
      router.send(id, zmq::send_flags::sndmore);
      router.send(zmq::buffer(reply), zmq::send_flags::none);
    }
  });
  std::vector<zmq::socket_t> sockets;
  const std::string request(request_bytes, 'q');
  std::vector<Clock::time_point> freed(opt.workers);
  for (int w = 0; w < opt.workers; ++w) {
    sockets.emplace_back(ctx, zmq::socket_type::dealer);
    sockets.back().set(zmq::sockopt::linger, 0);
    sockets.back().connect(endpoint);
    sockets.back().send(zmq::buffer(request), zmq::send_flags::none);
    freed[w] = Clock::now();
  }
  std::vector<zmq::pollitem_t> items;
  for (auto& s : sockets) items.push_back({static_cast<void*>(s), 0, ZMQ_POLLIN, 0});
  Result r;
  int64_t received = 0;
  Clock::time_point start = Clock::now(), last{};
  while (received < opt.trials + opt.workers) {
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(10000));
    for (int w = 0; w < opt.workers; ++w) {
      if (!(items[w].revents & ZMQ_POLLIN)) continue;
      zmq::message_t reply;
      while (sockets[w].recv(reply, zmq::recv_flags::dontwait)) {
        ++received;
        const auto now = Clock::now();
        r.latency_ms.push_back(std::chrono::duration<double, std::milli>(now - freed[w]).count());
        if (r.done < opt.trials) {
          sockets[w].send(zmq::buffer(request), zmq::send_flags::none);
          ++r.done;
        }
        freed[w] = Clock::now();
        last = freed[w];
      }
    }
  }
  server.join();
  r.seconds = Seconds(start, last);
  return r;
}

void Print(const char* name, const Result& r) {
  std::printf("%-34s %9lld trials in %6.2f s = %9.0f /s   latency p50 %6.3f ms  p99 %6.3f ms\n",
              name, static_cast<long long>(r.done), r.seconds,
              static_cast<double>(r.done) / r.seconds, Percentile(r.latency_ms, 0.50),
              Percentile(r.latency_ms, 0.99));
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  auto app = lf::flags::MakeApp(
      "dispatch_bench",
      "Trials per second and dispatch latency of a real lorafleetd with simulated workers, "
      "against a bare ZeroMQ ROUTER/DEALER loop with the same peers and message sizes.");
  app->add_option("--trials", opt.trials, "trials queued")->check(lf::flags::IntAtLeast(1));
  app->add_option("--workers", opt.workers, "simulated workers")->check(lf::flags::IntAtLeast(1));
  app->add_option("--adapter-bytes", opt.adapter_bytes, "size of each DONE's adapter file")
      ->check(lf::flags::IntAtLeast(0));
  app->add_option("--dir", opt.dir, "scratch folder (emptied first)");
  if (std::optional<int> rc = lf::flags::Parse(*app, argc, argv)) return *rc;
  signal(SIGPIPE, SIG_IGN);
  const std::string bin_dir = fs::canonical("/proc/self/exe").parent_path().string();
  const std::string repo = fs::canonical(fs::path(bin_dir) / LF_REPO_FROM_BIN).string();
  fs::remove_all(opt.dir);
  fs::create_directories(opt.dir);
  std::printf("dispatch_bench: %lld trials queued, %d simulated workers, %lld-byte adapters\n",
              static_cast<long long>(opt.trials), opt.workers,
              static_cast<long long>(opt.adapter_bytes));

  Result coordinator;
  {
    Daemon daemon;
    StartDaemon(bin_dir, opt, &daemon);
    const std::string sweep = SubmitSweep(daemon, opt, repo);
    coordinator = RunWorkers(daemon.workers, opt);
    // Every trial must be completed in the store, not just answered.
    for (int i = 0; i < 600; ++i) {
      auto reply = lf::HttpCall(daemon.http, "GET", "/v1/sweeps/" + sweep);
      auto j = lf::ParseJson(reply.ok() ? reply->body : "{}", "reply");
      if (j.ok() && j->contains("sweep") && (*j)["sweep"]["state"] == "finished") {
        if ((*j)["sweep"]["counts"]["completed"] != opt.trials) Die("not every trial completed");
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // Message sizes as the coordinator run used them: a DONE with its adapter, an ASSIGN's job.
  const size_t request_bytes = static_cast<size_t>(opt.adapter_bytes) + 200;
  const size_t reply_bytes = 900;
  Result bare = RunBareLoop(opt, request_bytes, reply_bytes);

  Print("coordinator (store, scheduler, zmq)", coordinator);
  Print("bare zmq request/reply", bare);
  const double ratio = (static_cast<double>(coordinator.done) / coordinator.seconds) /
                       (static_cast<double>(bare.done) / bare.seconds);
  std::printf("coordinator / bare loop: %.2fx of the transport's rate\n", ratio);
  return 0;
}
