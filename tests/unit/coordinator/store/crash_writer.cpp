// The writer half of the crash test: opens the store, then writes sweeps, transitions, metrics
// and adapter files forever, printing one line per acknowledged write ("S", "T", "M", "A")
// straight to stdout (unbuffered), until the test SIGKILLs it.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "common/ids.h"
#include "common/sha256.h"
#include "coordinator/store/experiment_store.h"

namespace {

void Ack(const std::string& line) {
  std::string out = line + "\n";
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::write(1, out.data() + done, out.size() - done);
    if (n <= 0) std::exit(3);
    done += static_cast<size_t>(n);
  }
}

[[noreturn]] void Die(const lf::Status& st) {
  std::fprintf(stderr, "crash_writer: %s\n", st.ToString().c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  using lf::jobs::TrialState;
  if (argc != 3) {
    std::fprintf(stderr, "usage: lf_store_crash_writer STORE_DIR SEED\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::mt19937_64 rng(std::strtoull(argv[2], nullptr, 10));
  auto opened = lf::store::OpenRocksDbStore({.path = dir});
  if (!opened.ok()) Die(opened.status());
  auto& store = **opened;
  lf::IdGenerator ids(lf::SystemClock(), rng());

  auto existing = store.ListTrials({});
  if (!existing.ok()) Die(existing.status());
  std::vector<std::string> live;  // trials that can still change
  for (const auto& t : *existing) {
    if (!lf::jobs::IsFinal(t.state)) live.push_back(t.id);
  }
  for (uint64_t n = 0;; ++n) {
    const int op = static_cast<int>(rng() % 10);
    if (op == 0 || live.empty()) {
      lf::store::SweepRecord s;
      s.id = ids.NextSweepId();
      s.name = "crash";
      s.trial_count = 1 + static_cast<uint32_t>(rng() % 20);
      std::vector<lf::store::TrialRecord> trials;
      for (uint32_t i = 0; i < s.trial_count; ++i) {
        lf::store::TrialRecord t;
        t.id = lf::MakeTrialId(s.id, i);
        t.sweep_id = s.id;
        t.index = i;
        t.config = "{}";
        trials.push_back(t);
      }
      lf::Status st = store.CreateSweep(s, trials, "crash-writer");
      if (!st.ok()) Die(st);
      for (const auto& t : trials) live.push_back(t.id);
      Ack("S " + s.id + " " + std::to_string(s.trial_count));
    } else if (op <= 6) {
      size_t pick = rng() % live.size();
      auto t = store.GetTrial(live[pick]);
      if (!t.ok()) Die(t.status());
      std::vector<TrialState> next;
      for (TrialState s : lf::jobs::AllTrialStates()) {
        if (lf::jobs::IsLegalTransition(t->state, s)) next.push_back(s);
      }
      lf::store::TransitionRequest r;
      r.trial_id = t->id;
      r.from = t->state;
      r.to = next[rng() % next.size()];
      r.actor = "crash-writer";
      r.worker = "w" + std::to_string(rng() % 4);
      auto done = store.TransitionTrial(r);
      if (!done.ok()) Die(done.status());
      if (lf::jobs::IsFinal(done->state)) {
        live[pick] = live.back();
        live.pop_back();
      }
      Ack("T " + done->id + " " + std::string(lf::jobs::TrialStateName(done->state)) + " " +
          std::to_string(done->version));
    } else if (op <= 8) {
      const std::string& trial = live[rng() % live.size()];
      int64_t step = static_cast<int64_t>(n);
      std::vector<lf::store::MetricPoint> batch;
      for (int k = 0; k < 10; ++k) batch.push_back({step, "m" + std::to_string(k), 1.0 * k, 1});
      lf::Status st = store.AppendMetrics(trial, batch);
      if (!st.ok()) Die(st);
      Ack("M " + trial + " " + std::to_string(step));
    } else {
      const std::string& trial = live[rng() % live.size()];
      std::string bytes(1000 + rng() % 20000, static_cast<char>(rng()));
      std::string name = "file-" + std::string(argv[2]) + "-" + std::to_string(n);
      auto info = store.PutAdapterFile(trial, name, bytes, "crash-writer");
      if (!info.ok()) Die(info.status());
      Ack("A " + trial + " " + name + " " + info->sha256);
    }
  }
}
