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

// Causal scaled dot-product attention over [batch, heads, seq, head_dim]. Keys and values may be
// longer than the queries by a prefix (prefix tuning) that every query attends to: query i sees
// keys 0 .. prefix + i. LibTorch 2.x has a fused kernel; 1.13 computes it step by step (same
// result up to rounding).
inline torch::Tensor CausalAttention(const torch::Tensor& q, const torch::Tensor& k,
                                     const torch::Tensor& v) {
  const int64_t t = q.size(-2), prefix = k.size(-2) - q.size(-2);
  auto bool_options = torch::TensorOptions().dtype(torch::kBool).device(q.device());
#if LF_TORCH_AT_LEAST(2, 0)
  if (prefix == 0) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true);
  torch::Tensor allowed = torch::ones({t, k.size(-2)}, bool_options).tril(prefix);
  return at::scaled_dot_product_attention(q, k, v, allowed, 0.0, /*is_causal=*/false);
#else
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
  torch::Tensor mask = torch::ones({t, k.size(-2)}, bool_options).triu(prefix + 1);
  scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(scores, -1), v);
#endif
}

}  // namespace lf::torch_compat
