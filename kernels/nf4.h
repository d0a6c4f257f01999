// 4-bit NormalFloat (NF4) quantisation of frozen weights, as QLoRA (Dettmers et al. 2023) and
// bitsandbytes define it: blocks of 64 values share one fp32 absmax; each value becomes the index
// of the nearest of the 16 NF4 code values after division by its block's absmax; two indices are
// packed per byte, the first in the high nibble. The CPU implementation is the reference; a CUDA
// dequantisation runs on CUDA tensors when lorafleet is built with CUDA. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "common/status.h"

namespace lf::kernels {

inline constexpr int64_t kNf4BlockSize = 64;

// The 16 NF4 code values, in index order (bitsandbytes' table).
const std::array<float, 16>& Nf4Codes();

struct Nf4Tensor {
  torch::Tensor packed;  // uint8 [numel / 2]
  torch::Tensor absmax;  // float32 [numel / block_size]
  std::vector<int64_t> shape;
  int64_t block_size = kNf4BlockSize;
  int64_t numel() const;
  int64_t bytes() const;  // storage: packed codes plus absmax
};

// `weight` (any floating dtype, CPU) -> NF4. The element count must be a multiple of block_size,
// which must be even; errors say what the shape is and what is needed.
Result<Nf4Tensor> QuantizeNf4(const torch::Tensor& weight, int64_t block_size = kNf4BlockSize);
// Back to `dtype` with the original shape, on the device the packed codes are on.
torch::Tensor DequantizeNf4(const Nf4Tensor& q, torch::Dtype dtype = torch::kFloat32);

}  // namespace lf::kernels
