// Drives the RocksDB and the in-memory store through one random sequence of writes, legal and
// not, and checks that every answer (the error's code and message, or the whole record returned)
// and then everything readable agree. The StoreTest suites check chosen fields; this checks all.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>

#include "coordinator/store/store_codec.h"
#include "store_test_util.h"

namespace lf::store {
namespace {

using jobs::SweepState;
using jobs::TrialState;

// Records compare whole, through the RocksDB store's own encoding: a field added later to a
// record (and to its encoding) is compared without touching this test.
std::string Show(const SweepRecord& s) { return codec::EncodeSweep(s); }
std::string Show(const TrialRecord& t) { return codec::EncodeTrial(t) + " config " + t.config; }
std::string Show(const EventRecord& e) { return codec::EncodeEvent(e); }
std::string Show(const MetricPoint& p) {
  char value[32];
  std::snprintf(value, sizeof(value), "%.17g", p.value);
  return std::to_string(p.step) + " " + p.name + "=" + value + " @" + std::to_string(p.time_ms);
}
std::string Show(const AdapterFileInfo& a) {
  return a.trial_id + "/" + a.name + " " + std::to_string(a.size) + " " + a.sha256 + " @" +
         std::to_string(a.stored_ms);
}
std::string Show(const TagRecord& t) {
  return t.name + "->" + t.trial_id + " by " + t.actor + " @" + std::to_string(t.time_ms);
}
std::string Show(uint64_t v) { return std::to_string(v); }
std::string Show(const std::string& bytes) { return bytes; }
std::string Show(const Status& s) { return s.ToString(); }
template <typename T>
std::string Show(const Result<T>& r);
template <typename T>
std::string Show(const std::vector<T>& items) {
  std::string out = "[";
  for (const T& item : items) out += Show(item) + "\n";
  return out + "]";
}
template <typename T>
std::string Show(const Result<T>& r) {
  return r.ok() ? Show(*r) : Show(r.status());
}

class Workload {
 public:
  explicit Workload(uint32_t seed) : rng_(seed) {}

  // One random call, made the same way on every store; returns what it describes.
  template <typename Call>
  std::string Next(const std::vector<ExperimentStore*>& stores, Call&& check) {
    switch (rng_() % 10) {
      case 0: {
        SweepRecord s = testing::MakeSweep(ids_, rng_() % 4, "w" + std::to_string(rng_() % 9));
        std::vector<TrialRecord> trials = testing::MakeTrials(s);
        if (!sweeps_.empty() && Chance(10)) s.id = Pick(sweeps_);  // taken
        if (Chance(10)) ++s.trial_count;                           // disagrees
        check([&](ExperimentStore& st) { return Show(st.CreateSweep(s, trials, "user:a")); });
        if (!Contains(sweeps_, s.id) && stores[0]->GetSweep(s.id).ok()) {
          sweeps_.push_back(s.id);
          for (const TrialRecord& t : trials) trials_.push_back(t.id);
        }
        return "create sweep " + s.id;
      }
      case 1:
      case 2:
      case 3:
      case 4: {
        if (trials_.empty()) return "nothing";
        TransitionRequest r = RandomTransition(*stores[0]);
        check([&](ExperimentStore& st) { return Show(st.TransitionTrial(r)); });
        return "transition " + r.trial_id;
      }
      case 5: {
        if (trials_.empty()) return "nothing";
        std::vector<TransitionRequest> batch;
        for (uint32_t i = 0, n = 1 + rng_() % 4; i < n; ++i) {
          batch.push_back(RandomTransition(*stores[0]));
        }
        check([&](ExperimentStore& st) { return Show(st.TransitionTrials(batch)); });
        return "batch of transitions";
      }
      case 6: {
        if (sweeps_.empty()) return "nothing";
        SweepUpdate u{.actor = "user:b", .reason = Chance(2) ? "why" : ""};
        if (Chance(4)) u.expected_state = RandomSweepState();
        if (Chance(2)) u.state = RandomSweepState();
        if (Chance(2)) u.priority = static_cast<int32_t>(rng_() % 3);
        const std::string id = Chance(20) ? "missing" : Pick(sweeps_);
        check([&](ExperimentStore& st) { return Show(st.UpdateSweep(id, u)); });
        return "update sweep " + id;
      }
      case 7: {
        if (trials_.empty()) return "nothing";
        const std::string id = Chance(20) ? "missing" : Pick(trials_);
        std::vector<MetricPoint> points;
        for (uint32_t i = 0, n = rng_() % 5; i < n; ++i) {
          points.push_back({.step = static_cast<int64_t>(rng_() % 8) - (Chance(30) ? 9 : 0),
                            .name = Chance(2) ? "loss" : "lr",
                            .value = static_cast<double>(rng_() % 1000) / 7,
                            .time_ms = Chance(2) ? 0 : 5});
        }
        check([&](ExperimentStore& st) { return Show(st.AppendMetrics(id, points)); });
        return "metrics of " + id;
      }
      case 8: {
        if (trials_.empty()) return "nothing";
        const std::string id = Chance(20) ? "missing" : Pick(trials_);
        const std::string name = Chance(10) ? "../x" : "f" + std::to_string(rng_() % 3);
        const std::string bytes(rng_() % 100, static_cast<char>('a' + rng_() % 26));
        check([&](ExperimentStore& st) { return Show(st.PutAdapterFile(id, name, bytes, "w")); });
        return "adapter " + name + " of " + id;
      }
      default: {
        if (trials_.empty() || Chance(3)) {
          EventRecord e{.actor = "coordinator",
                        .kind = Chance(10) ? "" : "worker.lost",
                        .trial_id = trials_.empty() ? "" : Pick(trials_),
                        .detail = "d"};
          check([&](ExperimentStore& st) { return Show(st.RecordEvent(e)); });
          return "event";
        }
        TagRecord tag{.name = Chance(20) ? "" : "tag" + std::to_string(rng_() % 3),
                      .trial_id = Chance(20) ? "missing" : Pick(trials_),
                      .actor = "user:c",
                      .time_ms = Chance(3) ? 77 : 0};
        check([&](ExperimentStore& st) { return Show(st.SetTag(tag)); });
        return "tag " + tag.name;
      }
    }
  }

  const std::vector<std::string>& trials() const { return trials_; }
  FakeClock& clock() { return clock_; }

 private:
  bool Chance(uint32_t one_in) { return rng_() % one_in == 0; }
  const std::string& Pick(const std::vector<std::string>& from) {
    return from[rng_() % from.size()];
  }
  static bool Contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }
  TrialState RandomTrialState() {
    const auto& all = jobs::AllTrialStates();
    return all[rng_() % all.size()];
  }
  SweepState RandomSweepState() { return static_cast<SweepState>(rng_() % 4); }

  // Mostly from the trial's current state (so that trials move along), sometimes stale.
  TransitionRequest RandomTransition(const ExperimentStore& store) {
    TransitionRequest r{.trial_id = Chance(30) ? "missing" : Pick(trials_), .actor = "scheduler"};
    Result<TrialRecord> now = store.GetTrial(r.trial_id);
    r.from = now.ok() && !Chance(5) ? now->state : RandomTrialState();
    std::vector<TrialState> legal;
    for (TrialState to : jobs::AllTrialStates()) {
      // Cancelling ends a trial's story early: rarely, so most trials get further.
      if (jobs::IsLegalTransition(r.from, to) && (to != TrialState::kCancelled || Chance(8))) {
        legal.push_back(to);
      }
    }
    r.to = legal.empty() || Chance(4) ? RandomTrialState() : legal[rng_() % legal.size()];
    if (now.ok() && Chance(3)) r.expected_attempt = now->attempt + (Chance(3) ? 1 : 0);
    r.worker = Chance(10) ? "" : "host/" + std::to_string(rng_() % 3);
    if (Chance(2)) r.reason = "reason " + std::to_string(rng_() % 5);
    if (Chance(3)) r.checkpoint = "/ckpt/" + std::to_string(rng_() % 100);
    if (r.to == TrialState::kCompleted) {
      r.files = {{"adapter_model.safetensors", "weights"}, {Chance(5) ? "a/b" : "c.json", "{}"}};
    }
    return r;
  }

  std::mt19937 rng_;
  FakeClock clock_;
  IdGenerator ids_{clock_, 5};
  std::vector<std::string> sweeps_;
  std::vector<std::string> trials_;
};

TEST(StoreEquivalenceTest, BothStoresAnswerARandomWorkloadAlike) {
  Workload workload(20240611);
  FakeClock& clock = workload.clock();
  auto rocks = OpenRocksDbStore({.path = testing::FreshDir("equivalence"), .clock = &clock});
  ASSERT_TRUE(rocks.ok()) << rocks.status().ToString();
  std::unique_ptr<ExperimentStore> memory = NewMemoryStore(&clock);
  const std::vector<ExperimentStore*> stores = {rocks->get(), memory.get()};

  // Calls `call` on each store and expects the same answer from both.
  std::string what;
  int op = 0;
  auto check = [&](auto&& call) {
    const std::string a = call(*stores[0]), b = call(*stores[1]);
    EXPECT_EQ(a, b) << "call " << op << ": " << what << " (RocksDB first, in-memory second)";
  };
  for (op = 0; op < 400 && !::testing::Test::HasFailure(); ++op) {
    clock.AdvanceMillis(1 + op % 7);
    what = workload.Next(stores, check);
  }

  what = "reading everything back";
  check([](ExperimentStore& s) { return Show(s.ListSweeps()); });
  check([](ExperimentStore& s) { return Show(s.ListTrials({})); });
  check([](ExperimentStore& s) { return Show(s.ListTags()); });
  check([](ExperimentStore& s) { return Show(s.ReadEvents({.limit = 100'000})); });
  check([](ExperimentStore& s) { return Show(s.ReadEvents({.after_seq = 50, .limit = 10})); });
  for (const std::string& id : workload.trials()) {
    check([&](ExperimentStore& s) { return Show(s.ReadEvents({.trial_id = id})); });
    check([&](ExperimentStore& s) { return Show(s.ReadMetrics(id, {})); });
    check([&](ExperimentStore& s) {
      return Show(s.ReadMetrics(id, {.from_step = 2, .to_step = 5, .name = "loss", .limit = 3}));
    });
    check([&](ExperimentStore& s) { return Show(s.ListAdapterFiles(id)); });
    check([&](ExperimentStore& s) {
      return Show(s.GetAdapterFile(id, "adapter_model.safetensors"));
    });
  }
  check([](ExperimentStore& s) {
    StoreInfo info = *s.Info();
    return Show(info.sweeps) + " " + Show(info.trials) + " " + Show(info.last_event_seq);
  });
  // The workload is worth comparing only if it reached the store's paths: every kind of event,
  // and completions that stored their adapter files with the transition.
  auto events = stores[1]->ReadEvents({.limit = 100'000}).value();
  std::set<std::string> kinds;
  size_t stored_by_completion = 0;
  for (const EventRecord& e : events) {
    kinds.insert(e.kind);
    stored_by_completion += e.kind == "adapter.stored" && e.actor == "scheduler";
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"sweep.created", "sweep.updated", "trial.transition",
                                          "adapter.stored", "adapter.tagged", "worker.lost"}));
  EXPECT_GE(stored_by_completion, 1u);
  std::set<TrialState> reached;
  const std::vector<TrialRecord> trials = stores[1]->ListTrials({}).value();
  for (const TrialRecord& t : trials) reached.insert(t.state);
  EXPECT_GE(reached.size(), 6u) << "trial states reached";
}

}  // namespace
}  // namespace lf::store
