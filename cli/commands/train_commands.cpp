// `lorafleet train JOB.yaml` and `lorafleet pretrain`: one job on this machine, no daemon.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands/commands.h"
#include "cli/commands/flags.h"
#include "common/json_reader.h"
#include "common/yaml.h"
#include "worker/worker_api.h"

namespace lf::cli {
namespace {

constexpr const char* kTrainUsage =
    "usage: lorafleet train JOB.yaml [--out DIR] [--no-resume] [--quiet] [--json]\n";
constexpr const char* kPretrainUsage =
    "usage: lorafleet pretrain --data FILE.jsonl --out DIR [--eval FILE.jsonl]\n"
    "         [--arch gpt2|llama] [--tokenizer MODEL_DIR] [--layers N] [--hidden N] [--heads N]\n"
    "         [--kv-heads N] [--intermediate N] [--seq-len N] [--steps N] [--batch-size N] [--lr X]\n"
    "         [--warmup N] [--schedule constant|linear|cosine] [--seed N] [--eval-every N]\n"
    "         [--checkpoint-every N] [--quiet] [--json]\n";

volatile std::sig_atomic_t g_stop = 0;

// SIGINT/SIGTERM finish the current step, checkpoint (when checkpoints are on) and stop.
void InstallStopHandler() {
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
}

std::string Mb(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

int PrintResult(const worker::TrainJobResult& r, bool json, const std::string& what) {
  const worker::TrainResult& t = r.train;
  if (json) {
    std::cout << worker::TrainJobResultToJson(r).dump(2) << "\n";
  } else {
    std::printf("%s: %s after %lld steps\n", what.c_str(), t.stop_reason.c_str(),
                static_cast<long long>(t.steps));
    std::printf("  train loss %.4f", t.final_train_loss);
    if (t.eval_loss) std::printf("   eval loss %.4f (perplexity %.2f)", *t.eval_loss, *t.eval_perplexity);
    if (t.eval_loss && t.initial_eval_loss) std::printf(", %.4f before training", *t.initial_eval_loss);
    std::printf("\n  trainable %lld of %lld parameters (%.3f%%)\n",
                static_cast<long long>(t.trainable_params), static_cast<long long>(t.base_params),
                100.0 * static_cast<double>(t.trainable_params) /
                    static_cast<double>(std::max<int64_t>(1, t.base_params)));
    std::printf("  %.0f tokens/s, %.1f s, peak memory %s\n", t.tokens_per_s, t.wall_s,
                Mb(t.peak_memory_bytes).c_str());
    if (!r.adapter_dir.empty()) {
      // Full fine-tuning writes a whole model folder (with its config.json), not an adapter.
      const bool whole_model = std::filesystem::exists(std::filesystem::path(r.adapter_dir) /
                                                       "config.json");
      std::printf("  %s: %s (%s)\n", whole_model ? "model" : "adapter", r.adapter_dir.c_str(),
                  Mb(r.adapter_bytes).c_str());
    }
    if (t.stop_reason == "stopped") {
      std::printf("  checkpointed; run the same command again to continue from step %lld\n",
                  static_cast<long long>(t.steps));
    }
  }
  return t.completed ? 0 : 1;
}

}  // namespace

int RunTrain(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {.options = {"--out"},
                                   .switches = {"--no-resume", "--quiet", "--json"},
                                   .max_positional = 1});
  if (!flags.ok()) return ReportError("train", flags.status(), kTrainUsage);
  if (flags->positional().empty()) return ReportError("train", InvalidArgument("JOB.yaml is required"), kTrainUsage);
  const std::string path = flags->positional()[0];
  Result<Json> doc = ReadYamlFile(path);
  if (!doc.ok()) return ReportError("train", doc.status());
  Result<jobs::JobSpec> job = jobs::ParseJobSpec(*doc, "job");
  if (!job.ok()) return ReportError("train", job.status().WithContext(path));
  if (auto out = flags->Get("--out")) job->output = *out;
  InstallStopHandler();
  worker::TrainJobOptions options{.progress = !flags->Has("--quiet"),
                                  .resume = !flags->Has("--no-resume"),
                                  .stop_requested = [] { return g_stop != 0; }};
  Result<worker::TrainJobResult> result = worker::RunTrainJob(*job, options);
  if (!result.ok()) return ReportError("train", result.status());
  return PrintResult(*result, flags->Has("--json"), "train");
}

int RunPretrain(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(
      args, {.options = {"--data", "--eval", "--out", "--arch", "--tokenizer", "--layers",
                         "--hidden", "--heads", "--kv-heads", "--intermediate",
                         "--seq-len", "--steps", "--batch-size", "--lr", "--warmup", "--schedule",
                         "--seed", "--eval-every", "--checkpoint-every"},
             .switches = {"--no-resume", "--quiet", "--json"}});
  if (!flags.ok()) return ReportError("pretrain", flags.status(), kPretrainUsage);
  Status st = [&]() -> Status {
    worker::PretrainSpec spec;
    LF_ASSIGN_OR_RETURN(spec.data, flags->Required("--data"));
    LF_ASSIGN_OR_RETURN(spec.output, flags->Required("--out"));
    spec.eval = flags->Get("--eval").value_or("");
    LF_ASSIGN_OR_RETURN(spec.layers, flags->Int("--layers", spec.layers, 1));
    LF_ASSIGN_OR_RETURN(spec.hidden, flags->Int("--hidden", spec.hidden, 8));
    LF_ASSIGN_OR_RETURN(spec.heads, flags->Int("--heads", spec.heads, 1));
    spec.arch = flags->Get("--arch").value_or(spec.arch);
    spec.tokenizer = flags->Get("--tokenizer").value_or("");
    LF_ASSIGN_OR_RETURN(spec.kv_heads, flags->Int("--kv-heads", 0, 0));
    LF_ASSIGN_OR_RETURN(spec.intermediate, flags->Int("--intermediate", 0, 0));
    LF_ASSIGN_OR_RETURN(spec.seq_len, flags->Int("--seq-len", spec.seq_len, 2));
    jobs::TrainSpec& t = spec.train;
    t.lr = 1e-3;
    t.schedule = jobs::Schedule::kCosine;
    LF_ASSIGN_OR_RETURN(t.steps, flags->Int("--steps", 1000, 1));
    LF_ASSIGN_OR_RETURN(t.batch_size, flags->Int("--batch-size", 16, 1));
    LF_ASSIGN_OR_RETURN(t.lr, flags->Number("--lr", t.lr));
    LF_ASSIGN_OR_RETURN(t.warmup, flags->Int("--warmup", t.steps / 20, 0));
    LF_ASSIGN_OR_RETURN(int64_t seed, flags->Int("--seed", 0, 0));
    t.seed = static_cast<uint64_t>(seed);
    LF_ASSIGN_OR_RETURN(t.eval_every, flags->Int("--eval-every", 0, 0));
    LF_ASSIGN_OR_RETURN(t.checkpoint_every, flags->Int("--checkpoint-every", 0, 0));
    t.log_every = std::max<int64_t>(1, t.steps / 50);
    if (auto s = flags->Get("--schedule")) {
      Json doc = {{"steps", t.steps}, {"schedule", *s}};
      LF_ASSIGN_OR_RETURN(jobs::JobSpec parsed,
                          jobs::ParseJobSpec({{"base_model", "-"}, {"data", {{"train", "-"}}},
                                              {"train", doc}}, "pretrain"));
      t.schedule = parsed.train.schedule;
    }
    InstallStopHandler();
    worker::TrainJobOptions options{.progress = !flags->Has("--quiet"),
                                    .resume = !flags->Has("--no-resume"),
                                    .stop_requested = [] { return g_stop != 0; }};
    LF_ASSIGN_OR_RETURN(worker::TrainJobResult r, worker::Pretrain(spec, options));
    int rc = PrintResult(r, flags->Has("--json"), "pretrain");
    if (rc == 0 && !flags->Has("--json")) std::printf("  model: %s\n", spec.output.c_str());
    return rc == 0 ? Status::Ok() : FailedPrecondition(r.train.stop_reason);
  }();
  if (!st.ok()) return ReportError("pretrain", st, kPretrainUsage);
  return 0;
}

}  // namespace lf::cli
