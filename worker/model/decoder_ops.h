// Internal to worker/model: what the decoder architectures share for one Forward. Where each token
// sits (positions restarting at every packed document) and what it may attend to (causal,
// document and sliding-window masks), rotary tables for every RopeType as transformers computes
// them, and RMSNorm. Stateless functions; thread-safe.
#pragma once

#include <torch/torch.h>

#include "worker/model/model_config.h"

namespace lf::worker::internal {

// The tokens of one Forward: the soft prompt (if any) followed by the real tokens, after
// `kv_tokens` prefix-tuning positions.
struct TokenLayout {
  int64_t kv_tokens = 0;
  int64_t tokens = 0;        // soft prompt + real tokens
  torch::Tensor positions;   // [batch or 1, tokens] int64
  torch::Tensor documents;   // [batch, tokens] int64 (the soft prompt joins the first document);
                             // undefined: one document per row
  int64_t max_position = 0;  // the largest entry of positions
};

// `document_ids` as CausalLm::Forward takes it (undefined or [batch, real tokens]).
TokenLayout MakeTokenLayout(const torch::Tensor& document_ids, int64_t prompt_tokens,
                            int64_t kv_tokens, int64_t tokens, torch::Device device);

// The boolean mask [batch or 1, 1, tokens, kv_tokens + tokens] for torch_compat::Attention (true:
// may attend), with a sliding window when `window` > 0 (over prefix keys too, by position, as
// transformers masks a cache); undefined when plain causal attention is exact (one document per
// row, no window shorter than what a query sees), so the fused causal kernel runs.
torch::Tensor AttentionMask(const TokenLayout& layout, int64_t window);

// cos and sin [batch or 1, 1, tokens, rotary_dim] in `dtype`, scaled by the rope's attention
// factor.
struct RotaryTables {
  torch::Tensor cos, sin;
};
// Inverse frequencies [rotary_dim / 2] (fp32); `seq_len` matters to dynamic and longrope only.
torch::Tensor RopeInvFreq(const RopeParams& rope, int64_t rotary_dim, int64_t max_positions,
                          int64_t seq_len);
RotaryTables MakeRotaryTables(const RopeParams& rope, int64_t rotary_dim, int64_t max_positions,
                              const TokenLayout& layout, torch::ScalarType dtype);
// Rotates the first rotary_dim channels of x [batch, heads, tokens, head_dim] (rotate_half).
torch::Tensor ApplyRotary(const torch::Tensor& x, const RotaryTables& rotary);

// RMSNorm in fp32: weight * x (Llama: cast back, then scaled) or x * (1 + weight) (Gemma: scaled
// in fp32, then cast back), as the two families compute it.
torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool gemma);

// LayerNorm in fp32, cast back to x's dtype: transformers' under bf16/fp16 autocast (layer_norm
// is on its fp32 list). No casts in fp32.
torch::Tensor LayerNorm(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias, double eps);

}  // namespace lf::worker::internal
