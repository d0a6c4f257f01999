// methods_bench: every training method on the same base model, data and steps, with full
// fine-tuning — the baseline every parameter-efficient method is measured against — measured in
// the same run. Each method trains through RunTrainJob (what `lorafleet train` runs) in a child
// process of its own, so peak memory (VmHWM) is per method.
//
//   methods_bench [--steps 60] [--batch 8] [--seq 112] [--methods full,lora,...]  (default: all)
// Prompt, P- and prefix tuning take 16 virtual tokens, which must fit beside --seq in the model's
// context (the bundled model's 128 positions with the default 112).
//                 [--model examples/models/tiny-gpt2] [--data examples/data/medical]
//   methods_bench --one METHOD STEPS BATCH SEQ MODEL DATA OUT   (internal: one run, prints JSON)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/flags.h"
#include "common/json_reader.h"
#include "jobs/job_spec.h"
#include "worker/train/memory.h"
#include "worker/worker_api.h"

namespace {

using namespace lf;
namespace fs = std::filesystem;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "methods_bench: %s\n", what.c_str());
  std::exit(1);
}

// Each method at a learning rate it is commonly run with (PEFT's examples and the papers):
// full fine-tuning needs a small one, the adapters larger ones.
double LearningRate(const std::string& method) {
  if (method == "full") return 1e-4;
  if (method == "ia3") return 3e-3;
  if (method == "bitfit") return 1e-3;
  if (method == "prompt_tuning") return 3e-2;  // PEFT's prompt-tuning example
  if (method == "prefix_tuning") return 1e-2;  // PEFT's prefix-tuning example
  if (method == "p_tuning") return 1e-3;       // PEFT's P-tuning example
  if (method == "bottleneck") return 1e-3;     // Houlsby et al.: 1e-4 to 1e-3
  if (method == "compacter") return 3e-3;      // Mahabadi et al.
  return 5e-4;  // lora, dora, qlora
}

constexpr int64_t kVirtualTokens = 16;

int RunOne(char** argv) {
  const int64_t baseline = worker::CurrentMemoryBytes();  // LibTorch loaded, no tensors yet
  jobs::JobSpec job;
  Result<jobs::Method> method = jobs::ParseMethod(argv[2]);
  if (!method.ok()) Die(method.status().message());
  job.method = *method;
  job.train.steps = std::atoll(argv[3]);
  job.train.batch_size = std::atoll(argv[4]);
  job.data.seq_len = std::atoll(argv[5]);
  job.base_model = argv[6];
  job.data.train = std::string(argv[7]) + "/train.jsonl";
  job.data.eval = std::string(argv[7]) + "/eval.jsonl";
  job.output = argv[8];
  job.train.lr = LearningRate(argv[2]);
  job.prompt_tuning.num_virtual_tokens = kVirtualTokens;
  job.p_tuning.num_virtual_tokens = kVirtualTokens;
  job.prefix_tuning.num_virtual_tokens = kVirtualTokens;
  job.train.log_every = 1000;
  auto result = worker::RunTrainJob(job, {.progress = false, .resume = false});
  if (!result.ok()) Die(std::string(argv[2]) + ": " + result.status().ToString());
  Json out = jobs::TrialResultToJson(result->train);
  out["baseline_memory_bytes"] = baseline;
  out["lr"] = job.train.lr;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

Json Measure(const std::string& cmd) {
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) Die("cannot run " + cmd);
  std::string output;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  if (pclose(pipe) != 0) Die(cmd + " failed");
  return Json::parse(output);
}

bool Known(const std::string& method) { return jobs::ParseMethod(method).ok(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc == 9 && std::string(argv[1]) == "--one") return RunOne(argv);
  int64_t steps = 60, batch = 8, seq = 112;
  std::string methods = "full";  // the baseline first, then every other method
  for (jobs::Method m : jobs::AllMethods()) {
    if (m != jobs::Method::kFull) methods += "," + std::string(jobs::MethodName(m));
  }
  std::string model = "examples/models/tiny-gpt2", data = "examples/data/medical";
  auto app = lf::flags::MakeApp(
      "methods_bench",
      "Every training method on the same model, data and steps, each in its own process, with "
      "ratios against full fine-tuning measured in the same run. Prompt, P- and prefix tuning "
      "take 16 virtual tokens, which must fit beside --seq in the model's context.");
  app->add_option("--steps", steps, "optimizer steps")->check(lf::flags::IntAtLeast(1));
  app->add_option("--batch", batch, "sequences per step")->check(lf::flags::IntAtLeast(1));
  app->add_option("--seq", seq, "tokens per sequence")->check(lf::flags::IntAtLeast(2));
  app->add_option("--methods", methods, "comma-separated; full first gives the ratios");
  app->add_option("--model", model, "base model folder")->type_name("DIR");
  app->add_option("--data", data, "folder with train.jsonl and eval.jsonl")->type_name("DIR");
  if (std::optional<int> rc = lf::flags::Parse(*app, argc, argv)) return *rc;
  if (!fs::exists(fs::path(model) / "config.json")) {
    Die(model + " has no config.json (run from the repository root, or pass --model)");
  }
  const fs::path scratch = fs::temp_directory_path() / ("methods_bench." + std::to_string(getpid()));
  std::printf("methods_bench: %s on %s, %lld steps of %lld x %lld tokens, each method in its own "
              "process; ratios against full fine-tuning measured in this run\n\n",
              model.c_str(), data.c_str(), static_cast<long long>(steps),
              static_cast<long long>(batch), static_cast<long long>(seq));
  // Peak memory is shown whole and above the process's baseline before any tensor exists
  // (LibTorch's code, the same in every run); the ratio is of the latter.
  std::printf("%-13s %7s %12s %11s %12s %14s %7s %10s %7s %10s %10s\n", "method", "lr",
              "trainable %", "adapter MB", "peak memory", "above baseline", "x full", "tokens/s",
              "x full", "eval loss", "(before)");
  Json full;
  std::stringstream ss(methods);
  std::string method;
  std::vector<std::string> skipped;
  while (std::getline(ss, method, ',')) {
    if (!Known(method)) {
      skipped.push_back(method);
      continue;
    }
    const std::string out = (scratch / method).string();
    const std::string cmd = std::string(argv[0]) + " --one " + method + " " +
                            std::to_string(steps) + " " + std::to_string(batch) + " " +
                            std::to_string(seq) + " '" + model + "' '" + data + "' '" + out + "'";
    Json j = Measure(cmd);
    if (method == "full") full = j;
    const double peak = j["peak_memory_bytes"].get<double>();
    auto above = [](const Json& r) {
      return r["peak_memory_bytes"].get<double>() - r["baseline_memory_bytes"].get<double>();
    };
    const double tps = j["tokens_per_s"].get<double>();
    const double pct =
        100.0 * j["trainable_params"].get<double>() / j["base_params"].get<double>();
    char peak_ratio[16] = "-", tps_ratio[16] = "-";
    if (!full.is_null()) {
      std::snprintf(peak_ratio, sizeof(peak_ratio), "%.2fx",
                    above(j) / above(full));
      std::snprintf(tps_ratio, sizeof(tps_ratio), "%.2fx",
                    tps / full["tokens_per_s"].get<double>());
    }
    std::printf("%-13s %7.0e %11.3f%% %11.3f %9.0f MB %11.0f MB %7s %10.0f %7s %10.4f %10.4f\n",
                method.c_str(), j["lr"].get<double>(), pct, j["adapter_bytes"].get<double>() / 1e6,
                peak / 1e6, above(j) / 1e6, peak_ratio, tps, tps_ratio, j["eval_loss"].get<double>(),
                j["initial_eval_loss"].get<double>());
    std::fflush(stdout);
  }
  for (const std::string& m : skipped) {
    std::printf("%-13s skipped: not a method this build trains (jobs::AllMethods)\n", m.c_str());
  }
  if (full.is_null()) std::printf("\n(no full row: ratios need method full first in --methods)\n");
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return 0;
}
