#include "worker/train/precision.h"

namespace lf::worker {

Result<jobs::Precision> TrainPrecision(const jobs::JobSpec& job, const torch::Device& device) {
  const bool cuda = device.is_cuda();
  if (job.method == jobs::Method::kFull) {
    if (job.train.precision == jobs::Precision::kAuto) return jobs::Precision::kFp32;
    if (job.train.precision != jobs::Precision::kFp32) {
      return InvalidArgument(
          "job.train.precision: " + std::string(jobs::PrecisionName(job.train.precision)) +
          " keeps a frozen base in that format, but method full trains every base weight, which "
          "stays fp32; use fp32 (or auto)");
    }
  }
  const jobs::Precision p = jobs::ResolvePrecision(job.train.precision, cuda);
  if (p == jobs::Precision::kFp16 && !cuda) {
    return InvalidArgument(
        "job.train.precision: fp16 needs a CUDA device (the CPU's kernels lack "
        "fp16 matmuls); use bf16 or fp32 on the CPU");
  }
  return p;
}

torch::Dtype ComputeDtype(jobs::Precision precision) {
  switch (precision) {
    case jobs::Precision::kBf16:
      return torch::kBFloat16;
    case jobs::Precision::kFp16:
      return torch::kFloat16;
    case jobs::Precision::kAuto:  // resolved before a model is loaded
    case jobs::Precision::kFp32:
      break;
  }
  return torch::kFloat32;
}

jobs::Precision PrecisionOf(torch::ScalarType dtype) {
  if (dtype == torch::kBFloat16) return jobs::Precision::kBf16;
  if (dtype == torch::kFloat16) return jobs::Precision::kFp16;
  return jobs::Precision::kFp32;
}

Result<std::unique_ptr<CausalLm>> LoadModelToTrain(const jobs::JobSpec& job,
                                                   const torch::Device& device) {
  LF_ASSIGN_OR_RETURN(jobs::Precision precision, TrainPrecision(job, device));
  return LoadCausalLm(job.base_model, {.dtype = ComputeDtype(precision), .device = device});
}

LossScaler::LossScaler(bool enabled, double initial_scale, int64_t growth_interval)
    : enabled_(enabled), scale_(initial_scale), growth_interval_(growth_interval) {}

bool LossScaler::Unscale(const std::vector<torch::Tensor>& params) {
  if (!enabled_) return true;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> finite;
  for (const torch::Tensor& p : params) {
    if (!p.grad().defined()) continue;
    p.mutable_grad().mul_(1.0 / scale_);
    finite.push_back(p.grad().isfinite().all());
  }
  const bool ok = finite.empty() || torch::stack(finite).all().item<bool>();
  if (!ok) {
    scale_ *= 0.5;
    good_steps_ = 0;
    return false;
  }
  if (++good_steps_ >= growth_interval_) {
    scale_ *= 2.0;
    good_steps_ = 0;
  }
  return true;
}

void LossScaler::Restore(double scale, int64_t good_steps) {
  scale_ = scale;
  good_steps_ = good_steps;
}

}  // namespace lf::worker
