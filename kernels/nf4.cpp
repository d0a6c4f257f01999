// NF4 on the CPU (the reference), and the dispatch to CUDA where it is built.
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

torch::Tensor DequantizeCpu(const Nf4Tensor& q) {
  const int64_t n = q.numel();
  torch::Tensor out = torch::empty({n}, torch::kFloat32);
  const uint8_t* packed = q.packed.data_ptr<uint8_t>();
  const float* absmax = q.absmax.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const auto& codes = Nf4Codes();
  at::parallel_for(0, n / 2, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float scale = absmax[(2 * i) / q.block_size];
      dst[2 * i] = codes[packed[i] >> 4] * scale;
      dst[2 * i + 1] = codes[packed[i] & 0x0F] * scale;
    }
  });
  return out;
}

}  // namespace

const std::array<float, 16>& Nf4Codes() {
  static const std::array<float, 16> kCodes = {
      -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
      -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
      0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
      0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
  return kCodes;
}

int64_t Nf4Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t Nf4Tensor::bytes() const { return packed.numel() + absmax.numel() * 4; }

Result<Nf4Tensor> QuantizeNf4(const torch::Tensor& weight, int64_t block_size) {
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
  q.absmax = flat.view({n / block_size, block_size}).abs().amax(1).contiguous();
  q.packed = torch::empty({n / 2}, torch::kUInt8);
  const float* src = flat.data_ptr<float>();
  const float* absmax = q.absmax.data_ptr<float>();
  uint8_t* packed = q.packed.data_ptr<uint8_t>();
  at::parallel_for(0, n / 2, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float a = absmax[(2 * i) / block_size];
      const float inv = a > 0 ? 1.0f / a : 0.0f;  // an all-zero block encodes as code 7 (0.0)
      packed[i] = static_cast<uint8_t>((NearestCode(src[2 * i] * inv) << 4) |
                                       NearestCode(src[2 * i + 1] * inv));
    }
  });
  return q;
}

torch::Tensor DequantizeNf4(const Nf4Tensor& q, torch::Dtype dtype) {
#ifdef LF_WITH_CUDA
  if (q.packed.is_cuda()) {
    torch::Tensor absmax = q.absmax.to(q.packed.device());
    torch::Tensor out = torch::empty({q.numel()}, q.packed.options().dtype(torch::kFloat32));
    const std::string error = cuda::DequantizeNf4(
        q.packed.data_ptr<uint8_t>(), absmax.data_ptr<float>(), out.data_ptr<float>(),
        q.numel() / 2, q.block_size, Nf4Codes().data());
    LF_CHECK_MSG(error.empty(), error);
    return out.view(q.shape).to(dtype);
  }
#endif
  LF_CHECK_MSG(q.packed.device().is_cpu(), "NF4 codes on a device this build cannot run");
  return DequantizeCpu(q).view(q.shape).to(dtype);
}

}  // namespace lf::kernels
