// `lorafleet train JOB.yaml` and `lorafleet pretrain`: one job on this machine, no daemon.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands/commands.h"
#include "cli/commands/command_flags.h"
#include "cli/commands/remote.h"
#include "common/json_reader.h"
#include "common/yaml.h"
#include "worker/worker_api.h"

namespace lf::cli {
namespace {

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
    std::cout << jobs::TrialResultToJson(t).dump(2) << "\n";
  } else {
    const std::string how = t.stop_reason == jobs::StopReason::kDiverged
                                ? t.stop_detail
                                : std::string(jobs::StopReasonName(t.stop_reason));
    std::printf("%s: %s after %lld steps\n", what.c_str(), how.c_str(),
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
    if (!t.adapter_dir.empty()) {
      // Full fine-tuning writes a whole model folder (with its config.json), not an adapter.
      const bool whole_model = std::filesystem::exists(std::filesystem::path(t.adapter_dir) /
                                                       "config.json");
      std::printf("  %s: %s (%s)\n", whole_model ? "model" : "adapter", t.adapter_dir.c_str(),
                  Mb(t.adapter_bytes).c_str());
    }
    if (t.stop_reason == jobs::StopReason::kStopped) {
      std::printf("  checkpointed; run the same command again to continue from step %lld\n",
                  static_cast<long long>(t.steps));
    }
  }
  return t.completed() ? 0 : 1;
}

}  // namespace

int RunTrain(const std::vector<std::string>& args) {
  TrainFlags flags;
  AppPtr app = TrainApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  const std::string path = flags.job;
  Result<Json> doc = ReadYamlFile(path);
  if (!doc.ok()) return ReportError("train", doc.status());
  Result<jobs::JobSpec> job = jobs::ParseJobSpec(*doc, "job");
  if (!job.ok()) return ReportError("train", job.status().WithContext(path));
  if (flags.out) job->output = *flags.out;
  InstallStopHandler();
  worker::TrainJobOptions options{.progress = !flags.quiet,
                                  .resume = !flags.no_resume,
                                  .stop_requested = [] { return g_stop != 0; }};
  Result<worker::TrainJobResult> result = worker::RunTrainJob(*job, options);
  if (!result.ok()) return ReportError("train", result.status());
  return PrintResult(*result, flags.json, "train");
}

int RunPretrain(const std::vector<std::string>& args) {
  PretrainFlags flags;
  AppPtr app = PretrainApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  Status st = [&]() -> Status {
    worker::PretrainSpec& spec = flags.spec;
    jobs::TrainSpec& t = spec.train;
    t.warmup = flags.warmup.value_or(t.steps / 20);
    t.log_every = std::max<int64_t>(1, t.steps / 50);
    if (flags.schedule) {
      Json doc = {{"steps", t.steps}, {"schedule", *flags.schedule}};
      LF_ASSIGN_OR_RETURN(jobs::JobSpec parsed,
                          jobs::ParseJobSpec({{"base_model", "-"}, {"data", {{"train", "-"}}},
                                              {"train", doc}}, "pretrain"));
      t.schedule = parsed.train.schedule;
    }
    InstallStopHandler();
    worker::TrainJobOptions options{.progress = !flags.quiet,
                                    .resume = !flags.no_resume,
                                    .stop_requested = [] { return g_stop != 0; }};
    LF_ASSIGN_OR_RETURN(worker::TrainJobResult r, worker::Pretrain(spec, options));
    int rc = PrintResult(r, flags.json, "pretrain");
    if (rc == 0 && !flags.json) std::printf("  model: %s\n", spec.output.c_str());
    return rc == 0 ? Status::Ok()
                   : FailedPrecondition(std::string(jobs::StopReasonName(r.train.stop_reason)));
  }();
  if (!st.ok()) return ReportError("pretrain", st);
  return 0;
}

}  // namespace lf::cli
