// gang_bench: data-parallel scaling of one trial. Under `mpirun -np N`, trains the same LoRA
// trial (the same global batch each step) on gangs of 1, 2, 4, ... ranks up to N, one after the
// other, and prints steps/s and the scaling efficiency against 1 rank measured in the same run:
// steps/s on g ranks / (g x steps/s on 1). Each rank uses one LibTorch thread; ranks outside the
// gang being measured wait. bench/run.sh runs it on as many ranks as the machine has cores.
//
//   mpirun -np 4 gang_bench [--steps 30] [--batch 8] [--seq 64] [--model DIR] [--data FILE]
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/flags.h"
#include "worker/collective/collective.h"
#include "worker/data/jsonl_reader.h"
#include "worker/data/packed_loader.h"
#include "worker/model/causal_lm.h"
#include "worker/peft/adapter.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/train/trainer.h"

namespace {

using namespace lf;
using namespace lf::worker;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "gang_bench: %s\n", what.c_str());
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

struct Options {
  int64_t steps = 30;
  int64_t batch = 8;  // global rows per step, split across the gang
  int64_t seq = 64;
  std::string model = "examples/models/tiny-gpt2";
  std::string data = "examples/data/medical/train.jsonl";
};

// Seconds one gang of `size` ranks (world ranks 0 .. size - 1) takes for the trial; -1 elsewhere.
double TrainOnGang(int size, int world_rank, const std::vector<Example>& examples,
                   const Options& o) {
  if (world_rank >= size) return -1;
  std::vector<int> ranks;
  for (int r = 0; r < size; ++r) ranks.push_back(r);
  auto gang = CreateCollective({.world_ranks = ranks, .tag = size}, torch::kCPU);
  if (!gang.ok()) Die(gang.status().ToString());
  auto model = LoadCausalLm(o.model);
  if (!model.ok()) Die(model.status().ToString() + " (run from the repository root)");
  jobs::JobSpec job;
  job.lora = {.r = 8, .alpha = 16, .target_modules = {"c_attn", "c_fc"}};
  auto adapter = CreateAdapter(**model, job, 0);
  if (!adapter.ok()) Die(adapter.status().ToString());
  jobs::TrainSpec spec{.steps = o.steps, .batch_size = o.batch / size, .lr = 1e-3,
                       .log_every = 1000000};
  auto loader = PackedLoader::Create(examples, {.seq_len = o.seq, .batch_size = spec.batch_size,
                                                .rank = world_rank, .world = size});
  if (!loader.ok()) Die(loader.status().ToString());
  Trainer trainer(**model, adapter->get(), spec,
                  {.progress = false, .gang = size > 1 ? gang->get() : nullptr});
  const auto t0 = std::chrono::steady_clock::now();
  auto result = trainer.Run(*loader, {});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!result.ok()) Die(result.status().ToString());
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int world_rank = 0, world_size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  Options o;
  auto app = lf::flags::MakeApp(
      "gang_bench",
      "Data-parallel scaling of one LoRA trial on gangs of 1, 2, 4 ... ranks (run under mpirun): "
      "steps/s and the efficiency against 1 rank.");
  app->add_option("--steps", o.steps, "optimizer steps per gang")->check(lf::flags::IntAtLeast(1));
  app->add_option("--batch", o.batch, "global rows per step, split across the gang")
      ->check(lf::flags::IntAtLeast(1));
  app->add_option("--seq", o.seq, "tokens per row")->check(lf::flags::IntAtLeast(2));
  app->add_option("--model", o.model, "base model folder")->type_name("DIR");
  app->add_option("--data", o.data, "training data")->type_name("FILE");
  if (std::optional<int> rc = lf::flags::Parse(*app, argc, argv)) {
    MPI_Finalize();
    return *rc;
  }
  torch::set_num_threads(1);
  auto tokenizer = LoadTokenizer(o.model);
  if (!tokenizer.ok()) Die(tokenizer.status().ToString());
  auto examples = LoadJsonlExamples(o.data, **tokenizer);
  if (!examples.ok()) Die(examples.status().ToString());
  std::vector<int> sizes;
  for (int g = 1; g <= world_size; g *= 2) {
    if (o.batch % g == 0) sizes.push_back(g);
  }
  if (world_rank == 0) {
    std::printf("gang_bench: one LoRA trial (r = 8 on c_attn and c_fc), %lld steps of %lld x %lld "
                "tokens split across the gang, %s, MPI, %d ranks, 1 thread each\n\n",
                static_cast<long long>(o.steps), static_cast<long long>(o.batch),
                static_cast<long long>(o.seq), o.model.c_str(), world_size);
    std::printf("%6s %10s %10s %12s\n", "ranks", "seconds", "steps/s", "efficiency");
  }
  double base = 0;
  for (int g : sizes) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double s = TrainOnGang(g, world_rank, *examples, o);
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank == 0) {
      const double rate = static_cast<double>(o.steps) / s;
      if (g == 1) base = rate;
      std::printf("%6d %10.2f %10.2f %11.0f%%\n", g, s, rate, 100.0 * rate / (g * base));
    }
  }
  MPI_Finalize();
  return 0;
}
