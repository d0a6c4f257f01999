// pack_bench: what packing buys. The same 16-trial LoRA sweep (ranks 1 to 64) on one worker's
// model, in the same run: one trial at a time (Trainer), then packed (PackedTrainer, up to --pack
// trials in one forward and backward pass, a queued trial joining as soon as one finishes).
// Prints both makespans and their ratio, and checks that packing changed no trial's losses. Then
// the same two with ASHA on (eval loss every 10 steps, grace period 10, reduction factor 2): the
// trials ASHA stops finish early, and in the pack their places go to queued trials.
//
//   pack_bench [--steps 40] [--pack 16] [--batch 4] [--seq 64] [--threads N] [--model DIR]
//              [--data FILE] [--eval FILE]   (--threads: LibTorch's intra-op threads; default:
//              every core; --eval: what ASHA's evaluations score)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/flags.h"
#include "jobs/asha.h"
#include "worker/data/batch.h"
#include "worker/data/jsonl_reader.h"
#include "worker/data/packed_loader.h"
#include "worker/model/causal_lm.h"
#include "worker/peft/adapter.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/train/packed_trainer.h"
#include "worker/train/trainer.h"

namespace {

using namespace lf;
using namespace lf::worker;

constexpr int64_t kRanks[] = {1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 56, 64};

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
  for (size_t i = 0; i < std::size(kRanks); ++i) {
    Trial t;
    t.id = "r" + std::to_string(kRanks[i]);
    t.job.lora.r = kRanks[i];
    t.job.lora.alpha = 16;
    t.job.lora.target_modules = {"c_attn", "c_fc"};
    t.job.train.steps = o.steps;
    t.job.train.batch_size = o.batch;
    t.job.train.lr = 1e-3;
    t.job.train.seed = i;
    t.job.train.log_every = 1000000;
    t.job.train.eval_every = eval != nullptr ? 10 : 0;
    auto loader = PackedLoader::Create(examples, {.seq_len = o.seq, .batch_size = o.batch,
                                                  .seed = t.job.train.seed});
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
      Status st = pack.Add({.id = t->id, .adapter = t->adapter.get(), .spec = t->job.train,
                            .options = sweep.OptionsFor(*t), .train = t->loader.get(),
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

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto app = lf::flags::MakeApp(
      "pack_bench",
      "The same 16-trial LoRA sweep one trial at a time and packed, then both with ASHA: "
      "makespans, their ratio, and a check that packing changed no trial's losses.");
  app->add_option("--steps", o.steps, "optimizer steps per trial")->check(lf::flags::IntAtLeast(1));
  app->add_option("--pack", o.pack, "trials in one pack")->check(lf::flags::IntAtLeast(1));
  app->add_option("--batch", o.batch, "sequences per step")->check(lf::flags::IntAtLeast(1));
  app->add_option("--seq", o.seq, "tokens per sequence")->check(lf::flags::IntAtLeast(2));
  app->add_option("--threads", o.threads, "LibTorch's intra-op threads (default: every core)")
      ->check(lf::flags::IntAtLeast(1));
  app->add_option("--model", o.model, "base model folder")->type_name("DIR");
  app->add_option("--data", o.data, "training data")->type_name("FILE");
  app->add_option("--eval", o.eval_data, "what ASHA's evaluations score")->type_name("FILE");
  if (std::optional<int> rc = lf::flags::Parse(*app, argc, argv)) return *rc;
  torch::set_num_threads(std::max(1, o.threads));
  auto model = LoadCausalLm(o.model);
  if (!model.ok()) Die(model.status().ToString() + " (run from the repository root)");
  auto tokenizer = LoadTokenizer(o.model);
  if (!tokenizer.ok()) Die(tokenizer.status().ToString());
  auto examples = LoadJsonlExamples(o.data, **tokenizer);
  if (!examples.ok()) Die(examples.status().ToString());

  auto eval_examples = LoadJsonlExamples(o.eval_data, **tokenizer);
  if (!eval_examples.ok()) Die(eval_examples.status().ToString());
  auto eval = EvalBatches(*eval_examples, o.seq, o.batch, (*tokenizer)->eos_id().value_or(0));
  if (!eval.ok()) Die(eval.status().ToString());
  eval->resize(std::min<size_t>(eval->size(), 4));  // ASHA's evals: a few batches

  std::printf("pack_bench: %zu LoRA trials (r = 1 to 64 on c_attn and c_fc), %lld steps of %lld x "
              "%lld tokens each, %s, one process, %d threads\n\n",
              std::size(kRanks), static_cast<long long>(o.steps), static_cast<long long>(o.batch),
              static_cast<long long>(o.seq), o.model.c_str(), torch::get_num_threads());
  Sweep alone = MakeSweep(**model, *examples, o, nullptr);
  const double alone_s = OneAtATime(**model, alone);
  Sweep packed = MakeSweep(**model, *examples, o, nullptr);
  const double packed_s = Packed(**model, packed, o.pack);
  Sweep alone_asha = MakeSweep(**model, *examples, o, &*eval);
  const double alone_asha_s = OneAtATime(**model, alone_asha);
  Sweep packed_asha = MakeSweep(**model, *examples, o, &*eval);
  const double packed_asha_s = Packed(**model, packed_asha, o.pack);

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
  auto line = [&](const std::string& mode, const char* asha, double s, int stopped, double base) {
    std::printf("%-22s %-8s %8.1f s %11.1f %8d %16.2fx\n", mode.c_str(), asha, s, 60 * n / s,
                stopped, base / s);
  };
  line("one at a time", "off", alone_s, 0, alone_s);
  line(label, "off", packed_s, 0, alone_s);
  line("one at a time", "on", alone_asha_s, alone_asha.Stopped(), alone_s);
  line(label, "on", packed_asha_s, packed_asha.Stopped(), alone_s);
  std::printf("\nlargest difference in any trial's per-step loss, packed against alone (ASHA off): "
              "%.2g\n", largest);
  if (largest > 1e-4) Die("packing changed a trial's losses by more than 1e-4");
  return 0;
}
