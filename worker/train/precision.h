// Mixed-precision training: which dtype a job's model is stored and computes in (train.precision,
// resolved for the device and the method), and fp16's dynamic loss scaling (PyTorch's
// GradScaler). In bf16 and fp16 the frozen base is stored in that dtype, trainable tensors and
// AdamW's state stay fp32 (TrainingRun keeps them so) and enter the computation through
// InDtypeOf (worker/model/causal_lm.h); norms and the loss compute in fp32. Not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "common/status.h"
#include "jobs/job_spec.h"
#include "worker/model/causal_lm.h"

namespace lf::worker {

// train.precision for `job` on `device`: auto resolved (bf16 on CUDA, fp32 on the CPU; fp32 for
// full fine-tuning, whose trained weights are the base itself and stay fp32). Errors name
// job.train.precision: fp16 on the CPU, bf16 or fp16 with method full.
Result<jobs::Precision> TrainPrecision(const jobs::JobSpec& job, const torch::Device& device);
// The dtype a model trained in `precision` (resolved, not kAuto) is loaded in.
torch::Dtype ComputeDtype(jobs::Precision precision);
// The precision a model stored in `dtype` computes in.
jobs::Precision PrecisionOf(torch::ScalarType dtype);
// job.base_model as `job` trains it: in its TrainPrecision's dtype, on `device`.
Result<std::unique_ptr<CausalLm>> LoadModelToTrain(const jobs::JobSpec& job,
                                                   const torch::Device& device = torch::kCPU);

// fp16's dynamic loss scaling, as torch.cuda.amp.GradScaler: the loss is multiplied by the scale
// before backward so small gradients survive fp16; the gradients are divided by it before
// clipping. A step whose gradients overflowed (inf or NaN) is skipped and the scale halved; after
// `growth_interval` good steps in a row the scale doubles. Disabled: scale 1, nothing skipped.
class LossScaler {
 public:
  explicit LossScaler(bool enabled, double initial_scale = 65536.0, int64_t growth_interval = 2000);

  bool enabled() const { return enabled_; }
  double scale() const { return enabled_ ? scale_ : 1.0; }
  // Unscales the gradients of `params` in place. False when any is inf or NaN: the caller skips
  // the optimizer step (the scale is halved); true counts a good step. Disabled: true, untouched.
  // Enabled, it reads one flag back from the device (the only sync fp16 adds to a step).
  bool Unscale(const std::vector<torch::Tensor>& params);

  // For checkpoints, so a resumed run scales as the uninterrupted one.
  int64_t good_steps() const { return good_steps_; }
  void Restore(double scale, int64_t good_steps);

 private:
  bool enabled_;
  double scale_;
  int64_t growth_interval_;
  int64_t good_steps_ = 0;
};

}  // namespace lf::worker
