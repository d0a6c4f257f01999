// What a trial produced: how its training ended and the summary research teams compare (losses,
// trainable parameters, adapter size, speed, memory, cost, forgetting) with its lineage (the
// resolved job, the base model's and data files' hashes). The worker writes it as result.json and
// sends it in DONE; the store keeps it with the trial; every view reads it from there. Its JSON
// mapping lives here and nowhere else. Values, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"
#include "jobs/job_spec.h"

namespace lf::jobs {

// How a training run ended.
enum class StopReason {
  kCompleted,     // trained all its steps; outputs final
  kEarlyStopped,  // early stopping ended it at a step before the last; outputs final at that step
  kStopped,       // told to stop (cancel, pause, shutdown): checkpointed, no final outputs
  kDiverged,      // the loss became NaN or infinite: the same settings would do it again
};
std::string_view StopReasonName(StopReason r);  // "completed", "early_stopped", ...
Result<StopReason> ParseStopReason(std::string_view name);
// Completed or early-stopped: the adapter, its eval and result.json are final.
bool HasFinalOutputs(StopReason r);

// A data file a trial read, identified by content.
struct DataLineage {
  std::string path;
  std::string sha256;
  int64_t examples = 0;
  int64_t tokens = 0;
};

struct TrialResult {
  StopReason stop_reason = StopReason::kCompleted;
  std::string stop_detail;  // what happened, for kDiverged ("the loss became NaN at step 12; ...")
  int64_t steps = 0;        // optimizer steps done
  int64_t resumed_from_step = 0;
  std::string resumed_from_checkpoint;  // the checkpoint folder the run resumed from, if any
  double final_train_loss = 0;          // mean of the last min(10, steps) steps
  std::optional<double> eval_loss;
  std::optional<double> eval_perplexity;
  // Eval loss before the first step: the base model's, or the checkpoint's when resuming.
  std::optional<double> initial_eval_loss;
  int64_t train_tokens = 0;
  double tokens_per_s = 0;
  double wall_s = 0;
  int64_t peak_memory_bytes = 0;
  int64_t trainable_params = 0;
  int64_t base_params = 0;
  int64_t devices = 1;  // devices (GPUs or CPU slots) the run held
  // The precision the run computed in (train.precision resolved for its device; results of
  // versions before precisions had a choice: fp32).
  Precision precision = Precision::kFp32;
  // fp16 only: optimizer steps skipped because the scaled gradients overflowed (the loss scale
  // was halved instead). They count in `steps` and in the schedule, as PyTorch's GradScaler does.
  int64_t overflow_skipped_steps = 0;
  // data.general_eval scored by the base before training and by the trained model after.
  std::optional<double> general_eval_loss_base;
  std::optional<double> general_eval_loss;
  std::string adapter_dir;    // <output>/adapter: the PEFT folder (full: <output>/model)
  int64_t adapter_bytes = 0;  // adapter_model.safetensors (full: model.safetensors)
  Json base_model;            // lineage: {"path", "sha256", "files": [{"name", "sha256"}]}
  std::vector<DataLineage> data;
  // The resolved job the trial trained, seed included (absent in DONEs of earlier versions).
  std::optional<JobSpec> job;
  std::string lorafleet_version;  // of the worker that trained it

  bool early_stopped() const { return stop_reason == StopReason::kEarlyStopped; }
  // Device-seconds: what the trial cost on the devices it held.
  double device_s() const { return wall_s * static_cast<double>(devices); }
  // How much worse the adapted model is on general text than its base (> 0: it forgot).
  std::optional<double> forgetting() const;
};

// result.json's form: every field above plus the derived ones readers use ("completed",
// "early_stopped", "stopped_at_step", "device_s", "forgetting", "lineage").
Json TrialResultToJson(const TrialResult& r);
// Strict on types, lenient on absence (a missing number is 0 or null), so results written by
// earlier versions still read. Errors name the field under `root` ("DONE.result.steps: ...").
Result<TrialResult> ParseTrialResult(const Json& doc, std::string_view root = "result");

}  // namespace lf::jobs
