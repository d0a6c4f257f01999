// The one place where lorafleet adapts to differences between LibTorch versions: Debian's 1.13
// (CPU; what CI builds) and the PyTorch package's 2.x (GPU machines). Code elsewhere asks these
// helpers instead of testing TORCH_VERSION itself.
#pragma once

#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <limits>
#include <optional>

#define LF_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||     \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace lf::torch_compat {

inline constexpr int kMajor = TORCH_VERSION_MAJOR;
inline constexpr int kMinor = TORCH_VERSION_MINOR;

// Unsigned 16/32/64-bit tensors arrived in LibTorch 2.3, float8 types in 2.1.
inline std::optional<c10::ScalarType> UInt16Type() {
#if LF_TORCH_AT_LEAST(2, 3)
  return c10::ScalarType::UInt16;
#else
  return std::nullopt;
#endif
}
inline std::optional<c10::ScalarType> UInt32Type() {
#if LF_TORCH_AT_LEAST(2, 3)
  return c10::ScalarType::UInt32;
#else
  return std::nullopt;
#endif
}
inline std::optional<c10::ScalarType> UInt64Type() {
#if LF_TORCH_AT_LEAST(2, 3)
  return c10::ScalarType::UInt64;
#else
  return std::nullopt;
#endif
}
inline std::optional<c10::ScalarType> Float8E4M3Type() {
#if LF_TORCH_AT_LEAST(2, 1)
  return c10::ScalarType::Float8_e4m3fn;
#else
  return std::nullopt;
#endif
}
inline std::optional<c10::ScalarType> Float8E5M2Type() {
#if LF_TORCH_AT_LEAST(2, 1)
  return c10::ScalarType::Float8_e5m2;
#else
  return std::nullopt;
#endif
}

// Scaled dot-product attention over [batch, heads, seq, head_dim]. Keys and values may be longer
// than the queries by a prefix (prefix tuning). `allowed` undefined: causal, and the prefix is
// visible to every query (query i sees keys 0 .. prefix + i). Otherwise a boolean mask
// broadcastable to [batch, heads, queries, keys], true where a query may attend (each query must
// see at least one key). `scale` 0: 1 / sqrt(head_dim). `softcap` > 0: scores become
// softcap * tanh(scores / softcap) before masking (Gemma 2), which no fused kernel computes.
// LibTorch 2.x uses the fused kernel (is_causal when it can); 1.13 and soft-capping compute it
// step by step, with the softmax in fp32 as transformers' eager attention does.
inline torch::Tensor Attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& allowed = {},
                               double scale = 0, double softcap = 0) {
  const int64_t t = q.size(-2), prefix = k.size(-2) - q.size(-2);
  const double default_scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  if (scale == 0) scale = default_scale;
  auto mask = [&]() -> torch::Tensor {  // built only off the fused causal route
    if (allowed.defined()) return allowed;
    auto bool_options = torch::TensorOptions().dtype(torch::kBool).device(q.device());
    return torch::ones({t, k.size(-2)}, bool_options).tril(prefix);
  };
#if LF_TORCH_AT_LEAST(2, 0)
  if (softcap == 0) {
#if LF_TORCH_AT_LEAST(2, 1)
    const std::optional<double> sdpa_scale = scale;
    const torch::Tensor& sdpa_q = q;
#else  // 2.0 has no scale argument: fold it into the queries
    const torch::Tensor sdpa_q = scale == default_scale ? q : q * (scale / default_scale);
#endif
    if (!allowed.defined() && prefix == 0) {
#if LF_TORCH_AT_LEAST(2, 1)
      return at::scaled_dot_product_attention(sdpa_q, k, v, {}, 0.0, /*is_causal=*/true,
                                              sdpa_scale);
#else
      return at::scaled_dot_product_attention(sdpa_q, k, v, {}, 0.0, /*is_causal=*/true);
#endif
    }
#if LF_TORCH_AT_LEAST(2, 1)
    return at::scaled_dot_product_attention(sdpa_q, k, v, mask(), 0.0, /*is_causal=*/false,
                                            sdpa_scale);
#else
    return at::scaled_dot_product_attention(sdpa_q, k, v, mask(), 0.0, /*is_causal=*/false);
#endif
  }
#endif
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1));
  scores =
      scale == default_scale ? scores / std::sqrt(static_cast<double>(q.size(-1))) : scores * scale;
  if (softcap > 0) scores = torch::tanh(scores / softcap) * softcap;
  scores = scores.masked_fill(mask().logical_not(), -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type()), v);
}

// Causal attention with a prefix every query sees (see Attention).
inline torch::Tensor CausalAttention(const torch::Tensor& q, const torch::Tensor& k,
                                     const torch::Tensor& v) {
  return Attention(q, k, v);
}

}  // namespace lf::torch_compat
