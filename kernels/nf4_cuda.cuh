// The CUDA NF4 dequantisation, over raw device pointers so this file and nf4_cuda.cu need no
// LibTorch: they compile wherever the CUDA toolkit is (LF_WITH_CUDA), whatever LibTorch was
// built with. kernels/nf4.cpp owns the tensors, makes the right device current and calls it.
#pragma once

#include <cstdint>
#include <string>

namespace lf::kernels::cuda {

// One NF4 tensor's device pointers (the whole tensor, whatever range is dequantised). Exactly one
// of `absmax` and (`absmax_codes`, `absmax_scales`) is set; see Nf4DoubleQuant in nf4.h.
struct Nf4View {
  const uint8_t* packed = nullptr;
  const float* absmax = nullptr;
  const int8_t* absmax_codes = nullptr;
  const float* absmax_scales = nullptr;
  float absmax_offset = 0.0f;
  int64_t group_size = 256;
  int64_t block_size = 64;
};

// out[j] = value first + j of the flattened tensor, for j < count; first and count are even. On
// the current device and the default stream. Returns an empty string, or the CUDA error with
// file:line.
std::string DequantizeNf4(const Nf4View& q, int64_t first, int64_t count, float* out,
                          const float codes[16]);

}  // namespace lf::kernels::cuda
