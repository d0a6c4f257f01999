// The CUDA NF4 dequantisation, over raw device pointers so this file and nf4_cuda.cu need no
// LibTorch: they compile wherever the CUDA toolkit is (LF_WITH_CUDA), whatever LibTorch was
// built with. kernels/nf4.cpp owns the tensors and calls it.
#pragma once

#include <cstdint>
#include <string>

namespace lf::kernels::cuda {

// out[2i], out[2i+1] from packed[i] for i < pairs, on the current device and default stream.
// Returns an empty string, or the CUDA error with file:line.
std::string DequantizeNf4(const uint8_t* packed, const float* absmax, float* out, int64_t pairs,
                          int64_t block_size, const float codes[16]);

}  // namespace lf::kernels::cuda
