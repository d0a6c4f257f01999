// What a training run reports: per-step metrics as they happen and a summary at the end (the
// columns research teams compare). Torch-free so the CLI and the worker agent can use it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lf::worker {

struct StepMetrics {
  int64_t step = 0;  // optimizer steps done, 1-based
  double loss = 0;   // mean train loss of this step's micro-batches
  double lr = 0;
  double grad_norm = 0;  // before clipping
  double tokens_per_s = 0;
  std::optional<double> eval_loss;  // when this step evaluated
};

struct TrainResult {
  int64_t steps = 0;            // optimizer steps done
  std::string stop_reason;      // "completed", "early_stopped", "stopped", or what went wrong
  bool completed = false;       // the outputs are final: trained to the end, or early_stopped
  bool early_stopped = false;   // ended before its steps when early stopping asked
  double final_train_loss = 0;  // mean of the last min(10, steps) steps
  std::optional<double> eval_loss;
  std::optional<double> eval_perplexity;
  // Eval loss before the first step: the base model's (an untrained adapter changes nothing), or
  // the checkpoint's when resuming. What the adapter gained is initial_eval_loss - eval_loss.
  std::optional<double> initial_eval_loss;
  int64_t train_tokens = 0;     // tokens processed (inputs), over every step of this run
  double tokens_per_s = 0;
  double wall_s = 0;
  int64_t peak_memory_bytes = 0;
  int64_t trainable_params = 0;
  int64_t base_params = 0;
  int64_t resumed_from_step = 0;
  std::string resumed_from_checkpoint;  // the checkpoint folder the run resumed from, if any
  std::vector<double> losses;   // per optimizer step, from step 1 (including resumed history)
};

}  // namespace lf::worker
