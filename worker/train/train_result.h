// What a training run reports: per-step metrics as they happen and a summary at the end (the
// columns research teams compare, a jobs::TrialResult). Torch-free so the CLI and the worker
// agent can use it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jobs/trial_result.h"

namespace lf::worker {

struct StepMetrics {
  int64_t step = 0;  // optimizer steps done, 1-based
  double loss = 0;   // mean train loss of this step's micro-batches
  double lr = 0;
  double grad_norm = 0;  // before clipping
  double tokens_per_s = 0;
  std::optional<double> eval_loss;  // when this step evaluated
};

// The trainer's account of a run: the trial's summary (how it ended, losses, speed, memory,
// parameters; RunTrainJob adds the adapter, lineage and forgetting) plus every step's loss.
struct TrainResult : jobs::TrialResult {
  std::vector<double> losses;  // per optimizer step, from step 1 (including resumed history)

  // The outputs are final: trained to the end, or stopped early by early stopping.
  bool completed() const { return jobs::HasFinalOutputs(stop_reason); }
};

}  // namespace lf::worker
