// NF4 on the CPU (the reference), double quantisation of the absmax values, and the one dispatch
// to CUDA where it is built.
#include "kernels/nf4.h"

#include <algorithm>
#include <cmath>
#include <string>

#ifdef LF_WITH_CUDA
#include "kernels/nf4_cuda.cuh"
#endif

namespace lf::kernels {
namespace {

// Index of the code value nearest to `v` in [-1, 1] (ties go to the upper code, as the midpoint
// decision tree of bitsandbytes does).
uint8_t NearestCode(float v) {
  const auto& codes = Nf4Codes();
  uint8_t best = 0;
  for (uint8_t i = 1; i < 16; ++i) {
    const float midpoint = 0.5f * (codes[i - 1] + codes[i]);
    if (v >= midpoint) best = i;
  }
  return best;
}

// One block's absmax from its double-quantised form. std::fma (one rounding) rather than a
// multiply and an add so that no compiler contraction choice can make the CPU and the CUDA
// kernel (__fmaf_rn) differ; the division is the correctly rounded one on both.
float DecodeAbsmax(int8_t code, float group_scale, float offset) {
  return std::fma(static_cast<float>(code), group_scale / 127.0f, offset);
}

// The absmax of blocks [first, last) as floats; every tensor of `q` is on the CPU.
std::vector<float> BlockAbsmaxCpu(const Nf4Tensor& q, int64_t first, int64_t last) {
  std::vector<float> out(static_cast<size_t>(last - first));
  const torch::Tensor& stored = q.double_quant ? q.double_quant->codes : q.absmax;
  LF_CHECK_MSG(stored.device().is_cpu(),
               "NF4 absmax on " + stored.device().str() +
                   ", apart from its packed codes on the CPU; move both with Nf4Tensor::To");
  if (!q.double_quant) {
    const float* absmax = q.absmax.data_ptr<float>();
    std::copy(absmax + first, absmax + last, out.begin());
    return out;
  }
  const Nf4DoubleQuant& dq = *q.double_quant;
  const int8_t* codes = dq.codes.data_ptr<int8_t>();
  const float* scales = dq.scales.data_ptr<float>();
  for (int64_t b = first; b < last; ++b) {
    out[static_cast<size_t>(b - first)] =
        DecodeAbsmax(codes[b], scales[b / dq.group_size], dq.offset);
  }
  return out;
}

torch::Tensor DequantizeRangeCpu(const Nf4Tensor& q, int64_t begin, int64_t end) {
  torch::Tensor out = torch::empty({end - begin}, torch::kFloat32);
  if (end == begin) return out;
  const int64_t first_block = begin / q.block_size;
  const std::vector<float> absmax = BlockAbsmaxCpu(q, first_block, (end - 1) / q.block_size + 1);
  const uint8_t* packed = q.packed.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  const auto& codes = Nf4Codes();
  at::parallel_for(0, (end - begin) / 2, 4096, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t index = begin + 2 * i;  // even; block sizes are even: one block for both
      const float scale = absmax[static_cast<size_t>(index / q.block_size - first_block)];
      const uint8_t byte = packed[index / 2];
      dst[2 * i] = codes[byte >> 4] * scale;
      dst[2 * i + 1] = codes[byte & 0x0F] * scale;
    }
  });
  return out;
}

// QLoRA's double quantisation of the fp32 absmax values (see Nf4DoubleQuant).
Nf4DoubleQuant QuantizeAbsmax(const torch::Tensor& absmax) {
  const int64_t n = absmax.numel();
  Nf4DoubleQuant dq;
  const int64_t groups = (n + dq.group_size - 1) / dq.group_size;
  dq.offset = absmax.mean().item<float>();
  dq.codes = torch::empty({n}, torch::kInt8);
  dq.scales = torch::empty({groups}, torch::kFloat32);
  const float* src = absmax.data_ptr<float>();
  int8_t* codes = dq.codes.data_ptr<int8_t>();
  float* scales = dq.scales.data_ptr<float>();
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t lo = g * dq.group_size;
    const int64_t hi = std::min(n, lo + dq.group_size);
    float scale = 0.0f;
    for (int64_t b = lo; b < hi; ++b) scale = std::max(scale, std::abs(src[b] - dq.offset));
    scales[g] = scale;
    for (int64_t b = lo; b < hi; ++b) {
      // A group of equal absmax values has scale 0 and decodes to the offset exactly.
      const float v = scale > 0 ? std::nearbyint((src[b] - dq.offset) / scale * 127.0f) : 0.0f;
      codes[b] = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
    }
  }
  return dq;
}

}  // namespace

const std::array<float, 16>& Nf4Codes() {
  static const std::array<float, 16> kCodes = {-1.0f,
                                               -0.6961928009986877f,
                                               -0.5250730514526367f,
                                               -0.39491748809814453f,
                                               -0.28444138169288635f,
                                               -0.18477343022823334f,
                                               -0.09105003625154495f,
                                               0.0f,
                                               0.07958029955625534f,
                                               0.16093020141124725f,
                                               0.24611230194568634f,
                                               0.33791524171829224f,
                                               0.44070982933044434f,
                                               0.5626170039176941f,
                                               0.7229568362236023f,
                                               1.0f};
  return kCodes;
}

int64_t Nf4Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t Nf4Tensor::bytes() const {
  int64_t total = packed.numel();
  if (absmax.defined()) total += absmax.numel() * 4;
  if (double_quant) {
    total += double_quant->codes.numel() + double_quant->scales.numel() * 4 +
             static_cast<int64_t>(sizeof(double_quant->offset));
  }
  return total;
}

Nf4Tensor Nf4Tensor::To(torch::Device device) const {
  Nf4Tensor out = *this;
  out.packed = packed.to(device);
  if (absmax.defined()) out.absmax = absmax.to(device);
  if (double_quant) {
    out.double_quant->codes = double_quant->codes.to(device);
    out.double_quant->scales = double_quant->scales.to(device);
  }
  return out;
}

Result<Nf4Tensor> QuantizeNf4(const torch::Tensor& weight, int64_t block_size, bool double_quant) {
  if (block_size < 2 || block_size % 2 != 0) {
    return InvalidArgument("NF4 block size must be even and at least 2, got " +
                           std::to_string(block_size));
  }
  if (!weight.is_floating_point()) {
    return InvalidArgument("NF4 quantises floating-point weights, got " +
                           std::string(c10::toString(weight.scalar_type())));
  }
  const int64_t n = weight.numel();
  if (n == 0 || n % block_size != 0) {
    return InvalidArgument("NF4 needs a whole number of blocks of " + std::to_string(block_size) +
                           " values; a tensor of shape " + c10::str(weight.sizes()) + " has " +
                           std::to_string(n));
  }
  torch::Tensor flat = weight.detach().to(torch::kCPU, torch::kFloat32).contiguous().view({-1});
  Nf4Tensor q;
  q.shape = weight.sizes().vec();
  q.block_size = block_size;
  torch::Tensor absmax = flat.view({n / block_size, block_size}).abs().amax(1).contiguous();
  q.packed = torch::empty({n / 2}, torch::kUInt8);
  const float* src = flat.data_ptr<float>();
  const float* scales = absmax.data_ptr<float>();
  uint8_t* packed = q.packed.data_ptr<uint8_t>();
  // Codes are chosen against the exact fp32 absmax, as bitsandbytes does; double quantisation
  // then only perturbs the scale each block is decoded with.
  at::parallel_for(0, n / 2, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float a = scales[(2 * i) / block_size];
      const float inv = a > 0 ? 1.0f / a : 0.0f;  // an all-zero block encodes as code 7 (0.0)
      packed[i] = static_cast<uint8_t>((NearestCode(src[2 * i] * inv) << 4) |
                                       NearestCode(src[2 * i + 1] * inv));
    }
  });
  if (double_quant) {
    q.double_quant = QuantizeAbsmax(absmax);
  } else {
    q.absmax = absmax;
  }
  return q;
}

// The factory that picks the CPU or the CUDA implementation: the only #ifdef besides the include.
torch::Tensor DequantizeNf4Range(const Nf4Tensor& q, int64_t begin, int64_t end) {
  LF_CHECK_MSG(begin % 2 == 0 && end % 2 == 0 && 0 <= begin && begin <= end && end <= q.numel(),
               "NF4 range [" + std::to_string(begin) + ", " + std::to_string(end) +
                   ") is not an even sub-range of " + std::to_string(q.numel()) + " values");
#ifdef LF_WITH_CUDA
  if (q.packed.is_cuda()) {
    const torch::Device device = q.packed.device();
    const c10::DeviceGuard guard(device);
    cuda::Nf4View view;
    view.packed = q.packed.data_ptr<uint8_t>();
    view.block_size = q.block_size;
    torch::Tensor absmax, codes, scales;  // keep any copies alive until the kernel is queued
    if (q.double_quant) {
      codes = q.double_quant->codes.to(device);
      scales = q.double_quant->scales.to(device);
      view.absmax_codes = codes.data_ptr<int8_t>();
      view.absmax_scales = scales.data_ptr<float>();
      view.absmax_offset = q.double_quant->offset;
      view.group_size = q.double_quant->group_size;
    } else {
      absmax = q.absmax.to(device);
      view.absmax = absmax.data_ptr<float>();
    }
    torch::Tensor out = torch::empty({end - begin}, q.packed.options().dtype(torch::kFloat32));
    const std::string error =
        cuda::DequantizeNf4(view, begin, end - begin, out.data_ptr<float>(), Nf4Codes().data());
    LF_CHECK_MSG(error.empty(), error);
    return out;
  }
#endif
  LF_CHECK_MSG(q.packed.device().is_cpu(),
               "NF4 codes on " + q.packed.device().str() + ", a device this build cannot run");
  return DequantizeRangeCpu(q, begin, end);
}

torch::Tensor DequantizeNf4(const Nf4Tensor& q, torch::Dtype dtype) {
  return DequantizeNf4Range(q, 0, q.numel()).view(q.shape).to(dtype);
}

torch::Tensor Nf4Absmax(const Nf4Tensor& q) {
  if (!q.double_quant) return q.absmax.to(q.packed.device());
  // Small (one value per block): decoded by the CPU reference wherever the codes live.
  Nf4Tensor cpu;
  cpu.double_quant = q.double_quant;
  cpu.double_quant->codes = q.double_quant->codes.cpu();
  cpu.double_quant->scales = q.double_quant->scales.cpu();
  const std::vector<float> absmax = BlockAbsmaxCpu(cpu, 0, q.num_blocks());
  return torch::tensor(absmax, torch::kFloat32).to(q.packed.device());
}

}  // namespace lf::kernels
