// train_bench: what parameter-efficient training saves. For each model, LoRA and full fine-tuning
// of the same model on the same data in the same run: tokens/s, peak memory, trainable share.
// Each measurement runs in its own child process so peak-memory figures do not mix.
//
//   train_bench [--steps N] [--models tiny,gpt2-small]
//   train_bench --one MODEL METHOD STEPS     (internal: one measurement, prints JSON)
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/flags.h"
#include "common/json_reader.h"
#include "worker/data/jsonl_reader.h"
#include "worker/data/packed_loader.h"
#include "worker/data/shuffle.h"
#include "worker/model/causal_lm.h"
#include "worker/peft/adapter.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/train/memory.h"
#include "worker/train/trainer.h"

namespace {

using namespace lf;
using namespace lf::worker;

constexpr const char* kTinyModel = "examples/models/tiny-gpt2";
constexpr const char* kTinyData = "examples/data/medical/train.jsonl";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "train_bench: %s\n", what.c_str());
  std::exit(1);
}

// Synthetic token stream for the random model: speed does not depend on what the tokens say.
std::vector<Example> RandomExamples(int64_t vocab, int n, int len) {
  SplitMix64 rng(1);
  std::vector<Example> out(static_cast<size_t>(n));
  for (Example& e : out) {
    for (int i = 0; i < len; ++i) {
      e.ids.push_back(static_cast<int32_t>(rng.Below(static_cast<uint64_t>(vocab))));
      e.loss.push_back(1);
    }
  }
  return out;
}

int RunOne(const std::string& model_name, const std::string& method, int64_t steps) {
  // The process before any tensor exists: LibTorch's code and runtime, the same for every run.
  const int64_t baseline = CurrentMemoryBytes();
  std::unique_ptr<CausalLm> model;
  std::vector<Example> examples;
  int64_t seq_len = 128, batch = 16;
  if (model_name == "tiny") {
    auto m = LoadCausalLm(kTinyModel);
    if (!m.ok()) Die(m.status().ToString() + " (run from the repository root)");
    model = std::move(*m);
    auto tok = LoadTokenizer(kTinyModel);
    if (!tok.ok()) Die(tok.status().ToString());
    auto ex = LoadJsonlExamples(kTinyData, **tok);
    if (!ex.ok()) Die(ex.status().ToString());
    examples = std::move(*ex);
  } else {
    auto m = NewCausalLm(Gpt2Config(50257, 1024, 768, 12, 12), 0);  // GPT-2 small
    if (!m.ok()) Die(m.status().ToString());
    model = std::move(*m);
    examples = RandomExamples(50257, 64, 512);
    seq_len = 256;
    batch = 2;
  }
  jobs::TrainSpec spec;
  spec.steps = steps;
  spec.batch_size = batch;
  spec.lr = 1e-4;
  spec.log_every = 1000;
  std::unique_ptr<Adapter> adapter;
  if (method == "lora") {
    jobs::JobSpec job;
    job.lora.r = 8;
    job.lora.alpha = 16;
    job.lora.target_modules = {"c_attn", "c_proj", "c_fc"};
    auto a = CreateAdapter(*model, job, 0);
    if (!a.ok()) Die(a.status().ToString());
    adapter = std::move(*a);
  }
  auto loader = PackedLoader::Create(std::move(examples), {.seq_len = seq_len, .batch_size = batch});
  if (!loader.ok()) Die(loader.status().ToString());
  Trainer trainer(*model, adapter.get(), spec, {.progress = false});
  auto result = trainer.Run(*loader, {});
  if (!result.ok()) Die(result.status().ToString());
  Json out = {{"tokens_per_s", result->tokens_per_s},
              {"peak_memory_bytes", result->peak_memory_bytes},
              {"baseline_memory_bytes", baseline},
              {"trainable_params", result->trainable_params},
              {"base_params", result->base_params},
              {"final_loss", result->losses.back()}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

Json Measure(const char* self, const std::string& model, const std::string& method, int64_t steps) {
  std::string cmd = std::string(self) + " --one " + model + " " + method + " " + std::to_string(steps);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) Die("cannot run " + cmd);
  std::string output;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  if (pclose(pipe) != 0) Die(cmd + " failed");
  return Json::parse(output);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--one") return RunOne(argv[2], argv[3], std::atoll(argv[4]));
  int64_t steps = 0;
  std::string models = "tiny,gpt2-small";
  auto app = lf::flags::MakeApp(
      "train_bench",
      "LoRA against full fine-tuning of the same model, data and batch: tokens/s, peak memory and "
      "trainable share, one process per measurement.");
  app->add_option("--steps", steps, "optimizer steps; 0: 40 for tiny, 4 for gpt2-small")
      ->check(lf::flags::IntAtLeast(0));
  app->add_option("--models", models, "comma-separated: tiny, gpt2-small");
  if (std::optional<int> rc = lf::flags::Parse(*app, argc, argv)) return *rc;
  std::printf("train_bench: LoRA (r=8 on c_attn, c_proj, c_fc) against full fine-tuning, same "
              "model, data and batch, one process per measurement\n\n");
  std::printf("%-11s %-5s %12s %10s %12s %14s\n", "model", "", "trainable %", "tokens/s",
              "peak memory", "above baseline");
  std::stringstream ss(models);
  std::string model;
  while (std::getline(ss, model, ',')) {
    const int64_t n = steps > 0 ? steps : (model == "tiny" ? 40 : 4);
    Json full = Measure(argv[0], model, "full", n);
    Json lora = Measure(argv[0], model, "lora", n);
    for (auto [name, j] : {std::pair{"full", &full}, {"lora", &lora}}) {
      const double pct = 100.0 * (*j)["trainable_params"].get<double>() / (*j)["base_params"].get<double>();
      std::printf("%-11s %-5s %11.3f%% %10.0f %9.0f MB %11.0f MB\n", model.c_str(), name, pct,
                  (*j)["tokens_per_s"].get<double>(), (*j)["peak_memory_bytes"].get<double>() / 1e6,
                  ((*j)["peak_memory_bytes"].get<double>() - (*j)["baseline_memory_bytes"].get<double>()) / 1e6);
    }
    const double speed = lora["tokens_per_s"].get<double>() / full["tokens_per_s"].get<double>();
    auto above = [](const Json& j) {
      return j["peak_memory_bytes"].get<double>() - j["baseline_memory_bytes"].get<double>();
    };
    const double memory = above(lora) / above(full);
    const double total = lora["peak_memory_bytes"].get<double>() / full["peak_memory_bytes"].get<double>();
    std::printf("%-11s ratio LoRA/full: %.2fx tokens/s, %.2fx peak memory above the baseline "
                "(%.2fx of the whole process)\n\n", model.c_str(), speed, memory, total);
    if (model == "gpt2-small") {
      std::printf("aim at GPT-2-small size: LoRA >= 1.4x tokens/s and <= 0.5x peak memory -> %s\n",
                  speed >= 1.4 && memory <= 0.5 ? "met" : "NOT met");
    }
  }
  return 0;
}
