// Positions, masks, rotary tables and RMSNorm shared by the decoder architectures. The rotary
// code follows transformers' modeling_rope_utils operation by operation (fp32 tensors where it
// uses tensors, doubles where it uses Python floats) so logits agree to rounding.
#include "worker/model/decoder_ops.h"

#include <algorithm>
#include <cmath>

#include "common/status.h"

namespace lf::worker::internal {
namespace {

constexpr double kPi = 3.14159265358979323846;

torch::TensorOptions Int64On(torch::Device device) {
  return torch::TensorOptions().dtype(torch::kInt64).device(device);
}

// transformers' default inverse frequencies: 1 / base^(2i / dim).
torch::Tensor DefaultInvFreq(const torch::Tensor& base_or_empty, double base, int64_t dim) {
  torch::Tensor exponent =
      torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(dim);
  torch::Tensor powers =
      base_or_empty.defined() ? torch::pow(base_or_empty, exponent) : torch::pow(base, exponent);
  return 1.0 / powers;
}

torch::Tensor YarnInvFreq(const RopeParams& r, int64_t dim) {
  const double base = r.theta;
  torch::Tensor pos_freqs = torch::pow(
      base, torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(dim));
  torch::Tensor extrapolation = 1.0 / pos_freqs;
  torch::Tensor interpolation = 1.0 / (r.factor * pos_freqs);
  auto correction_dim = [&](double rotations) {
    return (static_cast<double>(dim) *
            std::log(static_cast<double>(r.original_max_positions) / (rotations * 2 * kPi))) /
           (2 * std::log(base));
  };
  double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
  if (r.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // as transformers: no division by zero
  torch::Tensor ramp =
      torch::clamp((torch::arange(dim / 2, torch::kFloat32) - low) / (high - low), 0, 1);
  torch::Tensor extrapolation_factor = 1 - ramp;
  return interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor;
}

torch::Tensor Llama3InvFreq(const RopeParams& r, int64_t dim) {
  torch::Tensor inv_freq = DefaultInvFreq({}, r.theta, dim);
  const double old_context = static_cast<double>(r.original_max_positions);
  const double low_freq_wavelen = old_context / r.low_freq_factor;
  const double high_freq_wavelen = old_context / r.high_freq_factor;
  torch::Tensor wavelen = (2 * kPi) / inv_freq;
  torch::Tensor llama = torch::where(wavelen > low_freq_wavelen, inv_freq / r.factor, inv_freq);
  torch::Tensor smooth =
      (old_context / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
  torch::Tensor smoothed = (1 - smooth) * llama / r.factor + smooth * llama;
  torch::Tensor medium =
      (wavelen < high_freq_wavelen).logical_not() & (wavelen > low_freq_wavelen).logical_not();
  return torch::where(medium, smoothed, llama);
}

}  // namespace

TokenLayout MakeTokenLayout(const torch::Tensor& document_ids, int64_t prompt_tokens,
                            int64_t kv_tokens, int64_t tokens, torch::Device device) {
  TokenLayout l;
  l.kv_tokens = kv_tokens;
  l.tokens = tokens;
  torch::Tensor index = torch::arange(tokens, Int64On(device));
  if (!document_ids.defined()) {
    l.positions = (index + kv_tokens).unsqueeze(0);
    return l;
  }
  LF_CHECK_MSG(document_ids.dim() == 2 && document_ids.size(1) + prompt_tokens == tokens,
               "document_ids must be [batch, seq] like input_ids");
  torch::Tensor docs = document_ids.to(device, torch::kInt64);
  if (prompt_tokens > 0) {
    docs = torch::cat({docs.slice(1, 0, 1).expand({-1, prompt_tokens}), docs}, 1);
  }
  // A document starts where the id differs from the previous token's; a token's position is its
  // distance from the latest start.
  torch::Tensor starts =
      torch::cat({torch::ones({docs.size(0), 1}, docs.options().dtype(torch::kBool)),
                  docs.slice(1, 1) != docs.slice(1, 0, -1)},
                 1);
  torch::Tensor first =
      std::get<0>(torch::where(starts, index, torch::zeros_like(index)).cummax(1));
  l.positions = index - first + kv_tokens;
  l.documents = docs;
  return l;
}

torch::Tensor AttentionMask(const TokenLayout& l, int64_t window) {
  // A window longer than everything a query can see hides nothing.
  if (window >= l.kv_tokens + l.tokens) window = 0;
  if (!l.documents.defined() && window <= 0) return {};
  const torch::Device device = l.positions.device();
  torch::Tensor index = torch::arange(l.tokens, Int64On(device));
  torch::Tensor distance = index.unsqueeze(1) - index.unsqueeze(0);  // query - key
  torch::Tensor allowed = distance >= 0;
  if (window > 0) allowed = allowed & (distance < window);
  allowed = allowed.unsqueeze(0);
  if (l.documents.defined()) {
    allowed = allowed & (l.documents.unsqueeze(2) == l.documents.unsqueeze(1));
  }
  if (l.kv_tokens > 0) {
    // The prefix is visible to every document. A sliding window covers it as transformers' mask
    // covers a cache: prefix key j sits at position j, the query at its own position.
    torch::Tensor prefix = torch::ones({allowed.size(0), l.tokens, l.kv_tokens}, allowed.options());
    if (window > 0) {
      prefix = (l.positions.unsqueeze(-1) - torch::arange(l.kv_tokens, Int64On(device))) < window;
      prefix = prefix.expand({allowed.size(0), l.tokens, l.kv_tokens});
    }
    allowed = torch::cat({prefix, allowed}, 2);
  }
  return allowed.unsqueeze(1);
}

torch::Tensor RopeInvFreq(const RopeParams& r, int64_t dim, int64_t max_positions,
                          int64_t seq_len) {
  switch (r.type) {
    case RopeType::kDefault:
      return DefaultInvFreq({}, r.theta, dim);
    case RopeType::kLinear:
      return DefaultInvFreq({}, r.theta, dim) / r.factor;
    case RopeType::kDynamic: {
      if (seq_len <= max_positions) return DefaultInvFreq({}, r.theta, dim);
      // transformers recomputes the base from a tensor sequence length, so in fp32.
      torch::Tensor s = torch::full({}, seq_len, torch::kInt64);
      torch::Tensor base = ((r.factor * s) / static_cast<double>(max_positions) - (r.factor - 1))
                               .pow(static_cast<double>(dim) / static_cast<double>(dim - 2)) *
                           r.theta;
      return DefaultInvFreq(base, 0, dim);
    }
    case RopeType::kYarn:
      return YarnInvFreq(r, dim);
    case RopeType::kLlama3:
      return Llama3InvFreq(r, dim);
    case RopeType::kLongrope: {
      const std::vector<double>& ext =
          seq_len > r.original_max_positions ? r.long_factor : r.short_factor;
      torch::Tensor shape =
          torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(dim);
      return 1.0 /
             (torch::tensor(ext, torch::kFloat64).to(torch::kFloat32) * torch::pow(r.theta, shape));
    }
  }
  LF_CHECK_MSG(false, "unknown rope type");
  return {};
}

RotaryTables MakeRotaryTables(const RopeParams& rope, int64_t rotary_dim, int64_t max_positions,
                              const TokenLayout& layout, torch::ScalarType dtype) {
  int64_t seq_len = layout.kv_tokens + layout.tokens;
  if ((rope.type == RopeType::kDynamic || rope.type == RopeType::kLongrope) &&
      layout.documents.defined()) {
    seq_len = layout.positions.max().item<int64_t>() + 1;
  }
  torch::Tensor inv_freq =
      RopeInvFreq(rope, rotary_dim, max_positions, seq_len).to(layout.positions.device());
  torch::Tensor freqs = layout.positions.unsqueeze(-1).to(torch::kFloat32) * inv_freq;
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  torch::Tensor cos = emb.cos(), sin = emb.sin();
  if (rope.attention_factor != 1.0) {
    cos = cos * rope.attention_factor;
    sin = sin * rope.attention_factor;
  }
  return {cos.to(dtype).unsqueeze(1), sin.to(dtype).unsqueeze(1)};
}

torch::Tensor ApplyRotary(const torch::Tensor& x, const RotaryTables& rotary) {
  auto rotate = [&](const torch::Tensor& r) {
    const int64_t half = r.size(-1) / 2;
    torch::Tensor rotated = torch::cat({-r.slice(-1, half), r.slice(-1, 0, half)}, -1);
    return r * rotary.cos + rotated * rotary.sin;
  };
  const int64_t dim = rotary.cos.size(-1);
  if (dim == x.size(-1)) return rotate(x);
  return torch::cat({rotate(x.slice(-1, 0, dim)), x.slice(-1, dim)}, -1);
}

torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool gemma) {
  torch::Tensor x32 = x.to(torch::kFloat32);
  x32 = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  if (gemma) return (x32 * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());
  return weight * x32.to(x.scalar_type());
}

torch::Tensor LayerNorm(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias, double eps) {
  const int64_t width = x.size(-1);
  if (x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32 &&
      bias.scalar_type() == torch::kFloat32) {
    return torch::layer_norm(x, {width}, weight, bias, eps);
  }
  return torch::layer_norm(x.to(torch::kFloat32), {width}, weight.to(torch::kFloat32),
                           bias.to(torch::kFloat32), eps)
      .to(x.scalar_type());
}

}  // namespace lf::worker::internal
