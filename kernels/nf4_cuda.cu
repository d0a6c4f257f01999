// NF4 dequantisation on the GPU: one thread per packed byte (two values), the code table in
// constant memory, a double-quantised absmax decoded inline (no temporary). Tested against the
// CPU reference (ctest label gpu), which it matches bit for bit: the absmax decode is the same
// correctly rounded division and fused multiply-add as on the CPU.
#include <cuda_runtime.h>

#include "kernels/nf4_cuda.cuh"

namespace lf::kernels::cuda {
namespace {

__constant__ float kCodes[16];

__device__ float BlockAbsmax(const Nf4View& q, int64_t block) {
  if (q.absmax != nullptr) return q.absmax[block];
  const float step = __fdiv_rn(q.absmax_scales[block / q.group_size], 127.0f);
  return __fmaf_rn(static_cast<float>(q.absmax_codes[block]), step, q.absmax_offset);
}

__global__ void DequantizeKernel(Nf4View q, int64_t first, int64_t pairs, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= pairs) return;
  const int64_t index = first + 2 * i;  // even, and block sizes are even: one block for both
  const float scale = BlockAbsmax(q, index / q.block_size);
  const uint8_t byte = q.packed[index / 2];
  out[2 * i] = kCodes[byte >> 4] * scale;
  out[2 * i + 1] = kCodes[byte & 0x0F] * scale;
}

std::string Error(cudaError_t e, int line) {
  return std::string("CUDA error at kernels/nf4_cuda.cu:") + std::to_string(line) + ": " +
         cudaGetErrorString(e);
}

}  // namespace

std::string DequantizeNf4(const Nf4View& q, int64_t first, int64_t count, float* out,
                          const float codes[16]) {
  if (count == 0) return "";
  if (cudaError_t e = cudaMemcpyToSymbol(kCodes, codes, sizeof(float) * 16); e != cudaSuccess) {
    return Error(e, __LINE__);
  }
  constexpr int kThreads = 256;
  const int64_t pairs = count / 2;
  const int64_t blocks = (pairs + kThreads - 1) / kThreads;
  DequantizeKernel<<<static_cast<unsigned>(blocks), kThreads>>>(q, first, pairs, out);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return Error(e, __LINE__);
  return "";
}

}  // namespace lf::kernels::cuda
