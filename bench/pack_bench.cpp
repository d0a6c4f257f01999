// pack_bench: what packing buys. The same 16-trial LoRA sweep (ranks 1 to 64) on one worker's
// model, in the same run: one trial at a time (Trainer), then packed (PackedTrainer, up to --pack
// trials in one forward and backward pass, a queued trial joining as soon as one finishes).
// Prints both makespans and their ratio, and checks that packing changed no trial's losses. Then
// the same two with ASHA on (eval loss every 10 steps, grace period 10, reduction factor 2): the
// trials ASHA stops finish early, and in the pack their places go to queued trials. With
// --processes, the same trials also train at once in as many processes sharing the device (what
// one worker per trial would do), timed from when all have built their model.
//
//   pack_bench [--steps 40] [--pack 16] [--batch 4] [--seq 64] [--threads N] [--model DIR]
//              [--data FILE] [--eval FILE]   (--threads: LibTorch's intra-op threads; default:
//              every core; --eval: what ASHA's evaluations score)
//   pack_bench --shape llama-110m --device cuda --dtype bf16 --sizes 4,8,...,64 --asha off
//              --processes   (random weights of a bench/models shape on random tokens)
#include <unistd.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "common/flags.h"
#include "jobs/asha.h"
#include "worker/data/batch.h"
#include "worker/data/jsonl_reader.h"
#include "worker/data/packed_loader.h"
#include "worker/data/shuffle.h"
#include "worker/model/causal_lm.h"
#include "worker/peft/adapter.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/train/packed_trainer.h"
#include "worker/train/trainer.h"

namespace {

using namespace lf;
using namespace lf::worker;

constexpr int64_t kRanks[] = {1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 56, 64};
namespace fs = std::filesystem;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "pack_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Options {
  int64_t steps = 40;
  size_t pack = 16;
  int64_t batch = 4;
  int64_t seq = 64;
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  std::string model = "examples/models/tiny-gpt2";
  std::string data = "examples/data/medical/train.jsonl";
  std::string eval_data = "examples/data/medical/eval.jsonl";
  std::string shape;  // a bench/models shape with random weights instead of --model
  std::string device = "cpu", dtype = "fp32";
  std::vector<int64_t> ranks{std::begin(kRanks), std::end(kRanks)};
  std::string targets = "c_attn,c_fc";  // "all": every linear layer of the blocks
  bool asha = true;
  bool processes = false;
  int64_t one_trial = -1;  // internal: train this trial alone in this process (--processes)
  std::string sync_dir;    // internal: where that process says it is ready and waits to start
};

struct Trial {
  std::string id;
  jobs::JobSpec job;
  std::unique_ptr<PackedLoader> loader;
  std::unique_ptr<Adapter> adapter;
  std::vector<double> losses;
  bool stop = false;  // ASHA said so: finish at the next step
};

// What a trial trains with: nothing more, or ASHA's decisions at every eval.
struct Sweep {
  std::vector<Trial> trials;
  std::unique_ptr<jobs::AshaState> asha;  // null: no early stopping
  std::vector<Batch> eval;

  TrainerOptions OptionsFor(Trial& t) {
    TrainerOptions o{.progress = false};
    if (asha != nullptr) {
      o.on_step = [this, &t](const StepMetrics& m) {
        if (m.eval_loss &&
            asha->Record(t.id, m.step, *m.eval_loss).kind == jobs::AshaDecision::kStop) {
          t.stop = true;
        }
      };
      o.finish_requested = [&t] { return t.stop; };
    }
    return o;
  }
  int Stopped() const {
    int n = 0;
    for (const Trial& t : trials) n += t.stop ? 1 : 0;
    return n;
  }
};

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The sweep's trials, each with a fresh adapter on `model` and its own data order; with `eval`,
// ASHA on the eval loss.
Sweep MakeSweep(CausalLm& model, const std::vector<Example>& examples, const Options& o,
                const std::vector<Batch>* eval) {
  Sweep sweep;
  if (eval != nullptr) {
    sweep.eval = *eval;
    sweep.asha = std::make_unique<jobs::AshaState>(
        jobs::AshaConfig{.metric = "eval_loss", .grace_period = 10, .reduction_factor = 2},
        o.steps);
  }
  std::vector<Trial>& trials = sweep.trials;
  for (size_t i = 0; i < o.ranks.size(); ++i) {
    Trial t;
    t.id = "r" + std::to_string(o.ranks[i]) + "-" + std::to_string(i);
    t.job.lora.r = o.ranks[i];
    t.job.lora.alpha = 16;
    t.job.lora.target_modules =
        o.targets == "all" ? bench::AllLinearTargets(model.config()) : bench::SplitList(o.targets);
    t.job.train.steps = o.steps;
    t.job.train.batch_size = o.batch;
    t.job.train.lr = 1e-3;
    t.job.train.seed = i;
    t.job.train.log_every = 1000000;
    t.job.train.precision = o.dtype == "bf16" ? jobs::Precision::kBf16 : jobs::Precision::kFp32;
    t.job.train.eval_every = eval != nullptr ? 10 : 0;
    auto loader = PackedLoader::Create(
        examples, {.seq_len = o.seq, .batch_size = o.batch, .seed = t.job.train.seed});
    if (!loader.ok()) Die(loader.status().ToString());
    t.loader = std::make_unique<PackedLoader>(std::move(loader).value());
    auto adapter = CreateAdapter(model, t.job, t.job.train.seed);
    if (!adapter.ok()) Die(adapter.status().ToString());
    t.adapter = std::move(adapter).value();
    trials.push_back(std::move(t));
  }
  return sweep;
}

double OneAtATime(CausalLm& model, Sweep& sweep) {
  const auto t0 = std::chrono::steady_clock::now();
  for (Trial& t : sweep.trials) {
    Trainer trainer(model, t.adapter.get(), t.job.train, sweep.OptionsFor(t));
    auto result = trainer.Run(*t.loader, sweep.eval);
    if (!result.ok()) Die(t.id + ": " + result.status().ToString());
    t.losses = result->losses;
  }
  return Since(t0);
}

double Packed(CausalLm& model, Sweep& sweep, size_t limit) {
  const auto t0 = std::chrono::steady_clock::now();
  PackedTrainer pack(model);
  std::deque<Trial*> queued;
  std::map<std::string, Trial*> by_id;
  for (Trial& t : sweep.trials) {
    queued.push_back(&t);
    by_id[t.id] = &t;
  }
  while (!queued.empty() || pack.size() > 0) {
    while (!queued.empty() && pack.size() < limit) {
      Trial* t = queued.front();
      queued.pop_front();
      Status st = pack.Add({.id = t->id,
                            .adapter = t->adapter.get(),
                            .spec = t->job.train,
                            .options = sweep.OptionsFor(*t),
                            .train = t->loader.get(),
                            .eval = &sweep.eval});
      if (!st.ok()) Die(st.ToString());
    }
    for (PackResult& r : pack.Step()) {
      if (!r.result.ok()) Die(r.id + ": " + r.result.status().ToString());
      by_id.at(r.id)->losses = r.result->losses;
    }
  }
  return Since(t0);
}

// The base every trial shares, its training examples and ASHA's eval batches (none for a
// random shape, which has no eval data).
struct Base {
  std::unique_ptr<CausalLm> model;
  std::vector<Example> examples;
  std::vector<Batch> eval;
};

Base LoadBase(const Options& o) {
  Base b;
  const LoadOptions load{.dtype = o.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32,
                         .device = torch::Device(o.device)};
  if (!o.shape.empty()) {
    auto dir = bench::ModelFolder(o.shape);
    if (!dir.ok()) Die(dir.status().ToString());
    auto config = ReadModelConfig(*dir);
    if (!config.ok()) Die(config.status().ToString());
    auto model = NewCausalLm(*config, 0, load);
    if (!model.ok()) Die(model.status().ToString());
    b.model = std::move(*model);
    SplitMix64 rng(1);
    Example e;  // random tokens: enough for every trial's steps in one epoch
    for (int64_t i = 0; i < (o.steps + 1) * o.batch * (o.seq + 1) + 1; ++i) {
      e.ids.push_back(static_cast<int32_t>(rng.Below(static_cast<uint64_t>(config->vocab_size))));
      e.loss.push_back(1);
    }
    b.examples.push_back(std::move(e));
    return b;
  }
  auto model = LoadCausalLm(o.model, load);
  if (!model.ok()) Die(model.status().ToString() + " (run from the repository root)");
  b.model = std::move(*model);
  auto tokenizer = LoadTokenizer(o.model);
  if (!tokenizer.ok()) Die(tokenizer.status().ToString());
  auto examples = LoadJsonlExamples(o.data, **tokenizer);
  if (!examples.ok()) Die(examples.status().ToString());
  b.examples = std::move(*examples);
  auto eval_examples = LoadJsonlExamples(o.eval_data, **tokenizer);
  if (!eval_examples.ok()) Die(eval_examples.status().ToString());
  auto eval = EvalBatches(*eval_examples, o.seq, o.batch, (*tokenizer)->eos_id().value_or(0));
  if (!eval.ok()) Die(eval.status().ToString());
  eval->resize(std::min<size_t>(eval->size(), 4));  // ASHA's evals: a few batches
  b.eval = std::move(*eval);
  return b;
}

double MonotonicNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// --processes, in the child: builds its own base and trial, says it is ready, waits for the
// parent's go, trains, and prints when training started and ended (the steady clock is the
// machine's monotonic clock, the same in every process).
int RunOneTrial(const Options& o) {
  Base base = LoadBase(o);
  Sweep sweep = MakeSweep(*base.model, base.examples, o, nullptr);
  Trial& t = sweep.trials.at(static_cast<size_t>(o.one_trial));
  std::ofstream(fs::path(o.sync_dir) / ("ready-" + std::to_string(o.one_trial))) << "ready\n";
  while (!fs::exists(fs::path(o.sync_dir) / "go")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double start = MonotonicNow();
  Trainer trainer(*base.model, t.adapter.get(), t.job.train, TrainerOptions{.progress = false});
  auto result = trainer.Run(*t.loader, {});
  if (!result.ok()) Die(t.id + ": " + result.status().ToString());
  std::printf("{\"start\": %.6f, \"end\": %.6f}\n", start, MonotonicNow());
  return 0;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Every trial in its own process at once, sharing the device: the makespan from the first
// start to the last end, once every process has built its model.
double InProcesses(const char* self, const Options& o, const std::string& args) {
  const fs::path sync = fs::temp_directory_path() / ("pack_bench." + std::to_string(::getpid()));
  fs::remove_all(sync);
  fs::create_directories(sync);
  std::vector<FILE*> children;
  for (size_t i = 0; i < o.ranks.size(); ++i) {
    const std::string cmd = Quote(self) + args + " --one-trial " + std::to_string(i) +
                            " --sync-dir " + Quote(sync.string());
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) Die("cannot start " + cmd);
    children.push_back(pipe);
  }
  for (size_t ready = 0; ready < children.size();) {
    ready = 0;
    for (size_t i = 0; i < children.size(); ++i) {
      ready += fs::exists(sync / ("ready-" + std::to_string(i))) ? 1 : 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ofstream(sync / "go") << "go\n";
  double first = 1e300, last = 0;
  for (FILE* pipe : children) {
    std::string out;
    char buf[512];
    while (size_t n = fread(buf, 1, sizeof(buf), pipe)) out.append(buf, n);
    if (pclose(pipe) != 0) Die("a --processes child failed; its messages are above");
    Json j = Json::parse(out.substr(out.rfind('{')));
    first = std::min(first, j["start"].get<double>());
    last = std::max(last, j["end"].get<double>());
  }
  fs::remove_all(sync);
  return last - first;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string asha = "on";
  auto app = lf::flags::MakeApp(
      "pack_bench",
      "The same LoRA sweep one trial at a time and packed, then both with ASHA, and optionally "
      "in one process per trial: makespans, their ratio, and a check that packing changed no "
      "trial's losses.");
  app->add_option("--steps", o.steps, "optimizer steps per trial")->check(lf::flags::IntAtLeast(1));
  app->add_option("--pack", o.pack, "trials in one pack")->check(lf::flags::IntAtLeast(1));
  app->add_option("--batch", o.batch, "sequences per step")->check(lf::flags::IntAtLeast(1));
  app->add_option("--seq", o.seq, "tokens per sequence")->check(lf::flags::IntAtLeast(2));
  app->add_option("--threads", o.threads, "LibTorch's intra-op threads (default: every core)")
      ->check(lf::flags::IntAtLeast(1));
  app->add_option("--model", o.model, "base model folder")->type_name("DIR");
  app->add_option("--data", o.data, "training data")->type_name("FILE");
  app->add_option("--eval", o.eval_data, "what ASHA's evaluations score")->type_name("FILE");
  app->add_option("--shape", o.shape,
                  "instead of --model: random weights of a bench/models shape (gpt2-small, "
                  "llama-110m, llama-3.2-1b) or config.json folder, on random tokens");
  app->add_option("--device", o.device, "cpu or cuda");
  app->add_option("--dtype", o.dtype, "fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  app->add_option("--sizes", o.ranks, "the trials' LoRA ranks, comma-separated (one trial each)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app->add_option("--targets", o.targets,
                  "LoRA target modules, comma-separated; all: every linear layer of the blocks");
  app->add_option("--asha", asha, "on: also both with ASHA (needs --model's eval data)")
      ->check(CLI::IsMember({"on", "off"}));
  app->add_flag("--processes", o.processes,
                "also: every trial at once in its own process, sharing the device");
  app->add_option("--one-trial", o.one_trial)->group("");  // internal (--processes)
  app->add_option("--sync-dir", o.sync_dir)->group("");
  if (std::optional<int> rc = lf::flags::Parse(*app, argc, argv)) return *rc;
  o.asha = asha == "on";
  if (o.asha && !o.shape.empty()) {
    Die("--asha on needs eval data, which a random --shape has none of; add --asha off");
  }
  torch::set_num_threads(std::max(1, o.threads));
  if (o.one_trial >= 0) return RunOneTrial(o);
  Base base = LoadBase(o);
  CausalLm& model = *base.model;

  std::printf(
      "pack_bench: %zu LoRA trials (r = %lld to %lld on %s), %lld steps of %lld x "
      "%lld tokens each, %s, %s %s, one process, %d threads\n\n",
      o.ranks.size(), static_cast<long long>(*std::min_element(o.ranks.begin(), o.ranks.end())),
      static_cast<long long>(*std::max_element(o.ranks.begin(), o.ranks.end())), o.targets.c_str(),
      static_cast<long long>(o.steps), static_cast<long long>(o.batch),
      static_cast<long long>(o.seq), o.shape.empty() ? o.model.c_str() : o.shape.c_str(),
      o.device.c_str(), o.dtype.c_str(), torch::get_num_threads());
  Sweep alone = MakeSweep(model, base.examples, o, nullptr);
  const double alone_s = OneAtATime(model, alone);
  Sweep packed = MakeSweep(model, base.examples, o, nullptr);
  const double packed_s = Packed(model, packed, o.pack);
  double alone_asha_s = 0, packed_asha_s = 0;
  int alone_stopped = 0, packed_stopped = 0;
  if (o.asha) {
    Sweep alone_asha = MakeSweep(model, base.examples, o, &base.eval);
    alone_asha_s = OneAtATime(model, alone_asha);
    alone_stopped = alone_asha.Stopped();
    Sweep packed_asha = MakeSweep(model, base.examples, o, &base.eval);
    packed_asha_s = Packed(model, packed_asha, o.pack);
    packed_stopped = packed_asha.Stopped();
  }
  double processes_s = 0;
  if (o.processes) {
    std::string args = " --steps " + std::to_string(o.steps) + " --batch " +
                       std::to_string(o.batch) + " --seq " + std::to_string(o.seq) + " --threads " +
                       std::to_string(o.threads) + " --device " + o.device + " --dtype " + o.dtype +
                       " --targets " + Quote(o.targets) + " --asha off" + " --sizes " +
                       bench::JoinList([&] {
                         std::vector<std::string> r;
                         for (int64_t x : o.ranks) r.push_back(std::to_string(x));
                         return r;
                       }());
    args += o.shape.empty() ? " --model " + Quote(o.model) + " --data " + Quote(o.data)
                            : " --shape " + Quote(o.shape);
    processes_s = InProcesses(argv[0], o, args);
  }

  double largest = 0;
  for (size_t i = 0; i < alone.trials.size(); ++i) {
    const auto& a = alone.trials[i].losses;
    const auto& b = packed.trials[i].losses;
    if (a.size() != b.size()) Die(alone.trials[i].id + ": step counts differ");
    for (size_t s = 0; s < a.size(); ++s) largest = std::max(largest, std::abs(a[s] - b[s]));
  }
  const double n = static_cast<double>(alone.trials.size());
  const std::string label = "packed (up to " + std::to_string(o.pack) + ")";
  std::printf("%-22s %-8s %10s %11s %8s %17s\n", "mode", "ASHA", "makespan", "trials/min",
              "stopped", "vs one at a time");
  auto line = [&](const std::string& mode, const char* asha_on, double s, int stopped, double ref) {
    std::printf("%-22s %-8s %8.1f s %11.1f %8d %16.2fx\n", mode.c_str(), asha_on, s, 60 * n / s,
                stopped, ref / s);
  };
  line("one at a time", "off", alone_s, 0, alone_s);
  line(label, "off", packed_s, 0, alone_s);
  if (o.asha) {
    line("one at a time", "on", alone_asha_s, alone_stopped, alone_s);
    line(label, "on", packed_asha_s, packed_stopped, alone_s);
  }
  if (o.processes) {
    line(std::to_string(o.ranks.size()) + " processes", "off", processes_s, 0, alone_s);
    std::printf("packed against %zu processes sharing the %s: %.2fx\n", o.ranks.size(),
                o.device.c_str(), processes_s / packed_s);
  }
  // fp32 sums in another order differ by rounding; bf16 rounds every activation to 8 bits.
  const double tolerance = o.dtype == "bf16" ? 5e-2 : 1e-4;
  std::printf(
      "\nlargest difference in any trial's per-step loss, packed against alone (ASHA off): "
      "%.2g (allowed %.0e)\n",
      largest, tolerance);
  Json summary = {{"trials", o.ranks.size()},
                  {"device", o.device},
                  {"dtype", o.dtype},
                  {"one_at_a_time_s", alone_s},
                  {"packed_s", packed_s},
                  {"packed_speedup", alone_s / packed_s},
                  {"largest_loss_difference", largest}};
  if (o.processes) {
    summary["processes_s"] = processes_s;
    summary["packed_over_processes"] = processes_s / packed_s;
  }
  std::printf("%s\n", summary.dump().c_str());
  if (largest > tolerance) Die("packing changed a trial's losses by more than the tolerance");
  return 0;
}
