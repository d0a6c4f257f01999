#include "worker/train/adamw.h"

#include <cmath>
#include <limits>

namespace lf::worker {

ForeachAdamW::ForeachAdamW(std::vector<torch::Tensor> params, AdamWOptions options)
    : params_(std::move(params)), options_(options) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : params_) {
    exp_avg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
  }
  steps_.assign(params_.size(), 0);
}

void ForeachAdamW::Step() {
  torch::NoGradGuard no_grad;
  // Tensors with a gradient, grouped by their update count (one group in a run).
  std::map<int64_t, std::vector<size_t>> groups;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].grad().defined()) groups[++steps_[i]].push_back(i);
  }
  const double lr = options_.lr, b1 = options_.beta1, b2 = options_.beta2;
  for (const auto& [step, members] : groups) {
    std::vector<torch::Tensor> p, g, m, v;
    for (size_t i : members) {
      p.push_back(params_[i]);
      g.push_back(params_[i].grad());
      m.push_back(exp_avg_[i]);
      v.push_back(exp_avg_sq_[i]);
    }
    // torch::optim::AdamW::step, operation by operation.
    if (options_.weight_decay != 0) torch::_foreach_mul_(p, 1 - lr * options_.weight_decay);
    const double bias_correction1 = 1 - std::pow(b1, static_cast<double>(step));
    const double bias_correction2 = 1 - std::pow(b2, static_cast<double>(step));
    torch::_foreach_mul_(m, b1);
    torch::_foreach_add_(m, g, 1 - b1);
    torch::_foreach_mul_(v, b2);
    torch::_foreach_addcmul_(v, g, g, 1 - b2);
    std::vector<torch::Tensor> denom = torch::_foreach_sqrt(v);
    torch::_foreach_div_(denom, std::sqrt(bias_correction2));
    torch::_foreach_add_(denom, options_.eps);
    torch::_foreach_addcdiv_(p, m, denom, -lr / bias_correction1);
  }
}

void ForeachAdamW::ZeroGrad() {
  for (torch::Tensor& p : params_) p.mutable_grad() = torch::Tensor();
}

std::map<std::string, torch::Tensor> ForeachAdamW::State() const {
  std::map<std::string, torch::Tensor> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out["exp_avg." + std::to_string(i)] = exp_avg_[i];
    out["exp_avg_sq." + std::to_string(i)] = exp_avg_sq_[i];
  }
  out["steps"] = torch::tensor(steps_, torch::kInt64);
  return out;
}

Status ForeachAdamW::Load(const std::map<std::string, torch::Tensor>& state,
                          const std::string& source) {
  auto find = [&](const std::string& key, const torch::Tensor& like) -> Result<torch::Tensor> {
    auto it = state.find(key);
    if (it == state.end()) return DataLoss(source + ": lacks optimizer tensor '" + key + "'");
    if (it->second.sizes() != like.sizes()) {
      return DataLoss(source + ": optimizer tensor '" + key + "' has shape " +
                      c10::str(it->second.sizes()) + ", the run's tensor " +
                      c10::str(like.sizes()));
    }
    return it->second;
  };
  if (state.size() != 2 * params_.size() + 1) {
    return DataLoss(source + ": optimizer state for " +
                    std::to_string((static_cast<int64_t>(state.size()) - 1) / 2) +
                    " tensors, but the run trains " + std::to_string(params_.size()));
  }
  LF_ASSIGN_OR_RETURN(torch::Tensor steps,
                      find("steps", torch::zeros({static_cast<int64_t>(params_.size())})));
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    LF_ASSIGN_OR_RETURN(torch::Tensor m, find("exp_avg." + std::to_string(i), params_[i]));
    LF_ASSIGN_OR_RETURN(torch::Tensor v, find("exp_avg_sq." + std::to_string(i), params_[i]));
    exp_avg_[i].copy_(m);
    exp_avg_sq_[i].copy_(v);
  }
  const torch::Tensor counts = steps.to(torch::kCPU, torch::kInt64).contiguous();
  steps_.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
  return Status::Ok();
}

torch::Tensor ClipGradNorm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return torch::zeros({});
  std::vector<torch::Tensor> norms;
  for (const torch::Tensor& g : grads) norms.push_back(g.norm(2).to(torch::kFloat32));
  torch::Tensor total = torch::stack(norms).norm(2);
  if (std::isfinite(max_norm)) {
    // A per-tensor loop: the foreach multiply by a tensor is LibTorch 2.1's.
    torch::Tensor coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
    for (torch::Tensor& g : grads) g.mul_(coef.to(g.scalar_type()));
  }
  return total;
}

}  // namespace lf::worker
