// 4-bit NormalFloat (NF4) quantisation of frozen weights, as QLoRA (Dettmers et al. 2023) and
// bitsandbytes define it: blocks of 64 values share one absmax; each value becomes the index of
// the nearest of the 16 NF4 code values after division by its block's absmax; two indices are
// packed per byte, the first in the high nibble. Optionally the absmax values are themselves
// quantised to 8 bits ("double quantisation"). The CPU implementation is the reference; a CUDA
// dequantisation runs on CUDA tensors when built with CUDA. Nf4Tensor is a value; all thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "common/status.h"

namespace lf::kernels {

inline constexpr int64_t kNf4BlockSize = 64;
inline constexpr int64_t kNf4DoubleQuantGroupSize = 256;

// The 16 NF4 code values, in index order (bitsandbytes' table).
const std::array<float, 16>& Nf4Codes();

// The absmax values after double quantisation. QLoRA's recipe (subtract the mean, then blockwise
// 8-bit quantisation in groups of 256 with one fp32 scale each) with a plain symmetric linear
// int8 code, not bitsandbytes' "dynamic" 8-bit map:
//   absmax[b] ~= codes[b] * (scales[b / group_size] / 127) + offset      (one fused multiply-add)
// The last group may be shorter when the block count is not a multiple of group_size: its scale
// covers the blocks it has and nothing is padded.
struct Nf4DoubleQuant {
  torch::Tensor codes;   // int8 [num_blocks]: round((absmax - offset) / scale * 127)
  torch::Tensor scales;  // float32 [ceil(num_blocks / group_size)]: max |absmax - offset|
  float offset = 0.0f;   // mean of the fp32 absmax values, one for the whole tensor
  int64_t group_size = kNf4DoubleQuantGroupSize;
};

struct Nf4Tensor {
  torch::Tensor packed;  // uint8 [numel / 2]
  torch::Tensor absmax;  // float32 [numel / block_size]; undefined when double_quant is set
  std::optional<Nf4DoubleQuant> double_quant;
  std::vector<int64_t> shape;
  int64_t block_size = kNf4BlockSize;

  int64_t numel() const;
  int64_t num_blocks() const { return numel() / block_size; }
  // Everything stored: packed codes plus either the fp32 absmax, or the int8 absmax codes, the
  // fp32 group scales and the fp32 offset.
  int64_t bytes() const;
  torch::Device device() const { return packed.device(); }
  // A copy with every tensor on `device`.
  Nf4Tensor To(torch::Device device) const;
};

// `weight` (any floating dtype, any device; quantised on the CPU) -> NF4 on the CPU. The element
// count must be a multiple of block_size, which must be even; errors say what the shape is and
// what is needed. `double_quant` also quantises the absmax values (see Nf4DoubleQuant).
Result<Nf4Tensor> QuantizeNf4(const torch::Tensor& weight, int64_t block_size = kNf4BlockSize,
                              bool double_quant = false);
// Back to `dtype` with the original shape, on the device the packed codes are on.
torch::Tensor DequantizeNf4(const Nf4Tensor& q, torch::Dtype dtype = torch::kFloat32);
// Values [begin, end) of the flattened tensor as float32 on the packed codes' device; begin and
// end must be even. What Nf4Linear uses to dequantise a weight a few rows at a time.
torch::Tensor DequantizeNf4Range(const Nf4Tensor& q, int64_t begin, int64_t end);
// The float32 absmax per block (decoded when double-quantised), on the packed codes' device.
torch::Tensor Nf4Absmax(const Nf4Tensor& q);

}  // namespace lf::kernels
