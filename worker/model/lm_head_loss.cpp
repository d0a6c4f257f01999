// The fused LM head + cross-entropy as a torch::autograd::Function. Forward keeps only the
// inputs and each token's log-sum-exp ([tokens] fp32); backward walks the same chunks again:
// softmax minus the one-hot label, times the incoming gradient, through the head's matmul.
#include "worker/model/lm_head_loss.h"

#include <algorithm>

namespace lf::worker {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kIgnore = -100;

// A chunk's logits in fp32: the matmul in the compute dtype (as the unfused model computes it),
// then the soft-cap. `capped` receives tanh(raw / softcap) for backward when softcap > 0.
torch::Tensor ChunkLogits(const torch::Tensor& h, const torch::Tensor& weight, double softcap,
                          torch::Tensor* tanh_out = nullptr) {
  torch::Tensor logits = torch::matmul(h, weight.t()).to(torch::kFloat32);
  if (softcap > 0) {
    // The unfused model caps in the compute dtype; in fp32 this is as exact or better.
    torch::Tensor t = torch::tanh(logits / softcap);
    if (tanh_out != nullptr) *tanh_out = t;
    logits = t * softcap;
  }
  return logits;
}

struct LmHeadLossFunction : torch::autograd::Function<LmHeadLossFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, const torch::Tensor& labels,
                               double softcap, int64_t chunk) {
    const int64_t n = hidden.size(0);
    torch::Tensor lse = torch::empty({n}, hidden.options().dtype(torch::kFloat32));
    torch::Tensor total = torch::zeros({}, hidden.options().dtype(torch::kFloat32));
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
      const int64_t rows = std::min(chunk, n - r0);
      torch::Tensor logits = ChunkLogits(hidden.narrow(0, r0, rows), weight, softcap);
      torch::Tensor y = labels.narrow(0, r0, rows);
      torch::Tensor valid = y != kIgnore;
      torch::Tensor chunk_lse = torch::logsumexp(logits, 1);
      lse.narrow(0, r0, rows).copy_(chunk_lse);
      torch::Tensor target = logits.gather(1, y.clamp_min(0).unsqueeze(1)).squeeze(1);
      total += torch::where(valid, chunk_lse - target, torch::zeros_like(target)).sum();
    }
    ctx->save_for_backward({hidden, weight, labels, lse});
    ctx->saved_data["softcap"] = softcap;
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["weight_grad"] = weight.requires_grad();
    ctx->saved_data["hidden_grad"] = hidden.requires_grad();
    return total;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &hidden = saved[0], &weight = saved[1], &labels = saved[2], &lse = saved[3];
    const double softcap = ctx->saved_data["softcap"].toDouble();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const bool want_weight = ctx->saved_data["weight_grad"].toBool();
    const bool want_hidden = ctx->saved_data["hidden_grad"].toBool();
    // A 0-dim gradient stays on the device: no host sync.
    const torch::Tensor grad = grad_outputs[0].to(torch::kFloat32);
    const int64_t n = hidden.size(0);
    torch::Tensor grad_hidden = want_hidden ? torch::empty_like(hidden) : torch::Tensor();
    torch::Tensor grad_weight =
        want_weight ? torch::zeros(weight.sizes(), weight.options().dtype(torch::kFloat32))
                    : torch::Tensor();
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
      const int64_t rows = std::min(chunk, n - r0);
      torch::Tensor h = hidden.narrow(0, r0, rows);
      torch::Tensor t;
      torch::Tensor logits = ChunkLogits(h, weight, softcap, &t);
      torch::Tensor y = labels.narrow(0, r0, rows);
      torch::Tensor valid = (y != kIgnore).unsqueeze(1);
      // d loss / d logits = softmax - one_hot(label) on labelled rows, 0 elsewhere.
      torch::Tensor d = (logits - lse.narrow(0, r0, rows).unsqueeze(1)).exp_();
      d.scatter_add_(1, y.clamp_min(0).unsqueeze(1), torch::full({rows, 1}, -1.0, d.options()));
      d.mul_(valid.to(torch::kFloat32)).mul_(grad);
      if (softcap > 0) d.mul_(1 - t * t);  // through softcap · tanh(raw / softcap)
      torch::Tensor d_compute = d.to(hidden.scalar_type());
      if (want_hidden) grad_hidden.narrow(0, r0, rows).copy_(torch::matmul(d_compute, weight));
      if (want_weight) grad_weight.add_(torch::matmul(d_compute.t(), h).to(torch::kFloat32));
    }
    if (want_weight) grad_weight = grad_weight.to(weight.scalar_type());
    return {grad_hidden, grad_weight, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor LmHeadLogits(const LmHeadInput& head) {
  torch::Tensor logits = torch::matmul(head.hidden, head.weight.t());
  if (head.softcap > 0) logits = torch::tanh(logits / head.softcap) * head.softcap;
  return logits;
}

torch::Tensor LmHeadLossSum(const LmHeadInput& head, const torch::Tensor& labels,
                            int64_t chunk_tokens) {
  TORCH_CHECK(chunk_tokens > 0, "LmHeadLossSum: chunk_tokens must be positive, got ", chunk_tokens);
  TORCH_CHECK(
      head.hidden.dim() >= 2 && labels.numel() * head.hidden.size(-1) == head.hidden.numel(),
      "LmHeadLossSum: hidden states ", head.hidden.sizes(), " do not match labels ",
      labels.sizes());
  const int64_t width = head.hidden.size(-1);
  return LmHeadLossFunction::apply(head.hidden.reshape({-1, width}), head.weight,
                                   labels.reshape({-1}).to(torch::kInt64), head.softcap,
                                   chunk_tokens);
}

torch::Tensor LmHeadLoss(const LmHeadInput& head, const torch::Tensor& labels,
                         int64_t chunk_tokens) {
  return LmHeadLossSum(head, labels, chunk_tokens) / (labels != kIgnore).sum();
}

}  // namespace lf::worker
