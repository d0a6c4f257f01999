// AdamW over a run's trainable tensors with multi-tensor (foreach) ops: each update is a handful
// of torch::_foreach_* calls over all tensors at once instead of a loop of small ops per tensor
// (LibTorch's C++ torch::optim::AdamW has neither a fused nor a foreach form), so an adapter of
// hundreds of small tensors costs a few kernel launches per step on a GPU. The update is
// torch::optim::AdamW's (decoupled weight decay, bias correction, amsgrad off) operation by
// operation. Also the gradient norm and clipping without a host sync. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/status.h"

namespace lf::worker {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class ForeachAdamW {
 public:
  // `params` are updated in place; their state starts at zero, as torch::optim::AdamW's.
  ForeachAdamW(std::vector<torch::Tensor> params, AdamWOptions options);

  void set_lr(double lr) { options_.lr = lr; }
  // One update of every tensor that has a gradient (a tensor without one keeps its value and
  // state, as torch::optim::AdamW skips it).
  void Step();
  void ZeroGrad();                                     // drops the gradients (set_to_none)
  int64_t steps(size_t i) const { return steps_[i]; }  // updates tensor i has had

  // The state under stable names ("exp_avg.<i>", "exp_avg_sq.<i>", "steps": each tensor's update
  // count), for checkpoints; Load checks that every tensor is there with the right shape.
  std::map<std::string, torch::Tensor> State() const;
  Status Load(const std::map<std::string, torch::Tensor>& state, const std::string& source);

 private:
  std::vector<torch::Tensor> params_;
  AdamWOptions options_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  // Per tensor, as torch::optim::AdamW counts (its bias correction): a tensor without a gradient
  // at some step falls behind. In a run they all step together, so one foreach group.
  std::vector<int64_t> steps_;
};

// The gradients' total L2 norm before clipping, as a 0-dim tensor on their device (read it only
// when it is reported), scaling them by min(1, max_norm / (norm + 1e-6)) as
// torch.nn.utils.clip_grad_norm_ does; max_norm infinite: no scaling. Tensors without a gradient
// are skipped; none at all: 0.
torch::Tensor ClipGradNorm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace lf::worker
