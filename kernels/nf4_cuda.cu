// NF4 dequantisation on the GPU: one thread per packed byte (two values), the code table in
// constant memory. Tested against the CPU reference (ctest label gpu).
#include <cuda_runtime.h>

#include "kernels/nf4_cuda.cuh"

namespace lf::kernels::cuda {
namespace {

__constant__ float kCodes[16];

__global__ void DequantizeKernel(const uint8_t* packed, const float* absmax, float* out,
                                 int64_t pairs, int64_t block_size) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= pairs) return;
  const float scale = absmax[(2 * i) / block_size];
  const uint8_t byte = packed[i];
  out[2 * i] = kCodes[byte >> 4] * scale;
  out[2 * i + 1] = kCodes[byte & 0x0F] * scale;
}

std::string Error(cudaError_t e, int line) {
  return std::string("CUDA error at kernels/nf4_cuda.cu:") + std::to_string(line) + ": " +
         cudaGetErrorString(e);
}

}  // namespace

std::string DequantizeNf4(const uint8_t* packed, const float* absmax, float* out, int64_t pairs,
                          int64_t block_size, const float codes[16]) {
  if (cudaError_t e = cudaMemcpyToSymbol(kCodes, codes, sizeof(float) * 16); e != cudaSuccess) {
    return Error(e, __LINE__);
  }
  constexpr int kThreads = 256;
  const int64_t blocks = (pairs + kThreads - 1) / kThreads;
  DequantizeKernel<<<static_cast<unsigned>(blocks), kThreads>>>(packed, absmax, out, pairs,
                                                               block_size);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return Error(e, __LINE__);
  return "";
}

}  // namespace lf::kernels::cuda
