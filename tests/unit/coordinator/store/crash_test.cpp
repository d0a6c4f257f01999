// Kills a writer process at random moments, many times, and checks after each kill that every
// acknowledged write survived and that nothing is half-written.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <fstream>
#include <map>
#include <set>
#include <random>
#include <sstream>

#include "store_test_util.h"

extern char** environ;

namespace lf::store {
namespace {

struct Acked {
  std::map<std::string, uint32_t> sweeps;  // id -> trial count
  std::map<std::string, std::pair<std::string, uint64_t>> trials;  // id -> (state, version)
  std::map<std::string, std::set<int64_t>> metric_steps;
  std::map<std::pair<std::string, std::string>, std::string> adapters;  // (trial, name) -> sha
  size_t lines = 0;
};

void ParseAck(const std::string& line, Acked* acked) {
  std::istringstream in(line);
  std::string kind, id;
  in >> kind >> id;
  ++acked->lines;
  if (kind == "S") {
    in >> acked->sweeps[id];
  } else if (kind == "T") {
    std::string state;
    uint64_t version = 0;
    in >> state >> version;
    acked->trials[id] = {state, version};
  } else if (kind == "M") {
    int64_t step = 0;
    in >> step;
    acked->metric_steps[id].insert(step);
  } else if (kind == "A") {
    std::string name, sha;
    in >> name >> sha;
    acked->adapters[{id, name}] = sha;
  } else {
    ADD_FAILURE() << "unexpected line from the writer: " << line;
  }
}

// Runs the writer until it has acknowledged `acks` more writes (so each round makes progress
// however slow the machine), lets it run `extra_us` longer so the kill lands mid-write, SIGKILLs
// it, and returns after reading every line it acknowledged.
void RunAndKill(const std::string& dir, uint64_t seed, size_t acks, int extra_us, Acked* acked) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  const std::string stderr_path = dir + ".writer-stderr";
  posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::string binary = std::string(LF_TEST_BINDIR) + "/lf_store_crash_writer";
  std::string seed_arg = std::to_string(seed);
  char* argv[] = {binary.data(), const_cast<char*>(dir.c_str()), seed_arg.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv, environ), 0) << binary;
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);

  std::string buffer;
  auto drain = [&](int timeout_ms) {
    pollfd p{fds[0], POLLIN, 0};
    while (::poll(&p, 1, timeout_ms) > 0) {
      char chunk[4096];
      ssize_t n = ::read(fds[0], chunk, sizeof(chunk));
      if (n <= 0) return false;  // writer gone and pipe empty
      buffer.append(chunk, static_cast<size_t>(n));
      size_t nl;
      while ((nl = buffer.find('\n')) != std::string::npos) {
        ParseAck(buffer.substr(0, nl), acked);
        buffer.erase(0, nl + 1);
      }
      timeout_ms = 0;
    }
    return true;
  };
  const size_t target = acked->lines + acks;
  auto start = std::chrono::steady_clock::now();
  while (acked->lines < target &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    if (!drain(5)) break;
  }
  ::usleep(static_cast<useconds_t>(extra_us));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  while (drain(100)) {
  }
  ::close(fds[0]);
  std::ifstream err(stderr_path);
  std::string writer_stderr((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself (status " << status
                                   << ") before it was killed: " << writer_stderr;
}

void VerifyStore(const std::string& dir, const Acked& acked) {
  auto opened = OpenRocksDbStore({.path = dir, .read_only = true});
  if (!opened.ok() && opened.status().code() == StatusCode::kNotFound && acked.lines == 0) {
    // Killed before the store was fully created: nothing was acknowledged, and nothing
    // half-made may be left at the path.
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(dir) / "CURRENT"));
    return;
  }
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ExperimentStore& store = **opened;

  // Sweeps: every acknowledged one is there; none is there without all its trials.
  auto sweeps = store.ListSweeps().value();
  for (const auto& [id, count] : acked.sweeps) {
    auto s = store.GetSweep(id);
    ASSERT_TRUE(s.ok()) << "acknowledged sweep " << id << " lost";
  }
  std::map<std::string, int> trials_per_sweep;
  auto trials = store.ListTrials({}).value();
  for (const auto& t : trials) ++trials_per_sweep[t.sweep_id];
  for (const auto& s : sweeps) {
    EXPECT_EQ(trials_per_sweep[s.id], static_cast<int>(s.trial_count)) << "half-written sweep " << s.id;
  }
  EXPECT_EQ(trials_per_sweep.size(), sweeps.size()) << "trials without a sweep";

  // Transitions: the acknowledged version (or a later one) is there, and each trial has exactly
  // one transition event per version step.
  std::map<std::string, uint64_t> transition_events;
  uint64_t expected_seq = 1;
  for (uint64_t after = 0;;) {
    auto events = store.ReadEvents({.after_seq = after, .limit = 5000}).value();
    if (events.empty()) break;
    for (const auto& e : events) {
      ASSERT_EQ(e.seq, expected_seq++) << "gap in the event log";
      if (e.kind == "trial.transition") ++transition_events[e.trial_id];
    }
    after = events.back().seq;
  }
  for (const auto& t : trials) {
    EXPECT_EQ(transition_events[t.id], t.version - 1) << t.id;
  }
  for (const auto& [id, acked_state] : acked.trials) {
    auto t = store.GetTrial(id);
    ASSERT_TRUE(t.ok()) << id;
    ASSERT_GE(t->version, acked_state.second) << "acknowledged transition of " << id << " lost";
    if (t->version == acked_state.second) {
      EXPECT_EQ(jobs::TrialStateName(t->state), acked_state.first) << id;
    }
  }
  for (const auto& [trial, steps] : acked.metric_steps) {
    auto points = store.ReadMetrics(trial, {}).value();
    std::map<int64_t, int> per_step;
    for (const auto& p : points) ++per_step[p.step];
    for (int64_t step : steps) EXPECT_EQ(per_step[step], 10) << trial << " step " << step;
  }
  for (const auto& [key, sha] : acked.adapters) {
    auto bytes = store.GetAdapterFile(key.first, key.second);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    auto files = store.ListAdapterFiles(key.first).value();
    bool found = false;
    for (const auto& f : files) found |= f.name == key.second && f.sha256 == sha;
    EXPECT_TRUE(found) << key.first << "/" << key.second;
  }
}

TEST(StoreCrashTest, EveryAcknowledgedWriteSurvivesSigkill) {
  std::string dir = testing::FreshDir("crash");
  std::mt19937_64 rng(2024);
  Acked acked;
  constexpr int kKills = 30;
  for (int i = 0; i < kKills; ++i) {
    // Some rounds are killed before the first acknowledgement (during open and recovery).
    size_t acks = i % 5 == 0 ? 0 : rng() % 300;
    int extra_us = static_cast<int>(rng() % 3000);
    RunAndKill(dir, rng(), acks, extra_us, &acked);
    if (::testing::Test::HasFatalFailure()) return;
    VerifyStore(dir, acked);
    if (::testing::Test::HasFailure()) {
      FAIL() << "after kill " << i + 1 << " (" << acks << " acknowledgements, then " << extra_us
             << " us)";
    }
  }
  EXPECT_GT(acked.sweeps.size(), 5u);
  EXPECT_GT(acked.trials.size(), 20u);
  EXPECT_GT(acked.adapters.size(), 5u);
  std::printf("crash test: %d kills, %zu acknowledged writes verified\n", kKills, acked.lines);
}

}  // namespace
}  // namespace lf::store
