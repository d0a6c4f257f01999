// The segmented GEMM on the GPU: a launch's blocks are laid over the output tiles of all its
// problems, back to back (a block finds its problem from the running tile count), so trials of
// different ranks and row counts share one launch and an empty trial costs no block. Each block
// stages 64x16 and 16x64 operand tiles in shared memory as fp32 and accumulates a 64x64 tile in
// fp32 registers (4x4 per thread). Tested against the CPU reference (ctest label gpu).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/grouped_lora_cuda.cuh"

namespace lf::kernels::cuda {
namespace {

constexpr int kTile = 64;   // output rows and columns per block
constexpr int kDepth = 16;  // reduction steps staged per shared-memory round
constexpr int kThreads = 256;
constexpr int kSide = 16;  // threads per tile side: each owns rows ty + 16i, columns tx + 16j
constexpr int kPerThread = kTile / kSide;
static_assert(kSide * kSide == kThreads, "one thread per 4x4 patch of the 64x64 tile");

struct Launch {
  GemmProblem problems[kMaxGemmProblemsPerLaunch];
  int32_t first_tile[kMaxGemmProblemsPerLaunch + 1];  // first_tile[count] is the total
  int32_t count = 0;
};
// Kernel arguments are limited to 4 KiB on every architecture and CUDA version we build for.
static_assert(sizeof(Launch) <= 4096, "GemmProblem array too large for kernel arguments");

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__half v) { return __half2float(v); }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ float FromFloat<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half FromFloat<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) GroupedGemmKernel(const Launch launch) {
  const int32_t tile = static_cast<int32_t>(blockIdx.x);
  int p = 0;  // a few dozen problems at most: a linear scan, the same for every thread
  while (p + 1 < launch.count && launch.first_tile[p + 1] <= tile) ++p;
  const GemmProblem& prob = launch.problems[p];
  const int64_t tiles_n = (prob.n + kTile - 1) / kTile;
  const int64_t local = tile - launch.first_tile[p];
  const int64_t row0 = (local / tiles_n) * kTile;
  const int64_t col0 = (local % tiles_n) * kTile;
  const T* a = static_cast<const T*>(prob.a);
  const T* b = static_cast<const T*>(prob.b);

  // +1 column: the tile loads write along the reduction index too, which would otherwise put
  // every thread of a warp on the same bank.
  __shared__ float a_tile[kDepth][kTile + 1];  // a_tile[q][i] = a[row0 + i][k0 + q]
  __shared__ float b_tile[kDepth][kTile + 1];  // b_tile[q][j] = b[k0 + q][col0 + j]
  const int tx = static_cast<int>(threadIdx.x) % kSide;
  const int ty = static_cast<int>(threadIdx.x) / kSide;
  // Neighbouring threads read neighbouring addresses: along k when a's rows are contiguous
  // (x, grad), along m when its columns are (a transposed operand).
  const bool a_k_fast = prob.a_col_stride == 1 || prob.a_row_stride != 1;
  const bool b_n_fast = prob.b_col_stride == 1 || prob.b_row_stride != 1;
  float acc[kPerThread][kPerThread] = {};

  for (int64_t k0 = 0; k0 < prob.k; k0 += kDepth) {
    for (int e = static_cast<int>(threadIdx.x); e < kTile * kDepth; e += kThreads) {
      const int i = a_k_fast ? e / kDepth : e % kTile;
      const int q = a_k_fast ? e % kDepth : e / kTile;
      const int64_t r = row0 + i;
      const int64_t kk = k0 + q;
      a_tile[q][i] = r < prob.m && kk < prob.k
                         ? ToFloat(a[r * prob.a_row_stride + kk * prob.a_col_stride])
                         : 0.0f;
    }
    for (int e = static_cast<int>(threadIdx.x); e < kTile * kDepth; e += kThreads) {
      const int j = b_n_fast ? e % kTile : e / kDepth;
      const int q = b_n_fast ? e / kTile : e % kDepth;
      const int64_t kk = k0 + q;
      const int64_t c = col0 + j;
      b_tile[q][j] = kk < prob.k && c < prob.n
                         ? ToFloat(b[kk * prob.b_row_stride + c * prob.b_col_stride])
                         : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int q = 0; q < kDepth; ++q) {
      float av[kPerThread];
      float bv[kPerThread];
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) av[i] = a_tile[q][ty + kSide * i];
#pragma unroll
      for (int j = 0; j < kPerThread; ++j) bv[j] = b_tile[q][tx + kSide * j];
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) {
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
      }
    }
    __syncthreads();
  }

  T* c = static_cast<T*>(prob.c);
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int64_t r = row0 + ty + kSide * i;
    if (r >= prob.m) continue;
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int64_t col = col0 + tx + kSide * j;
      if (col < prob.n) c[r * prob.ldc + col] = FromFloat<T>(prob.alpha * acc[i][j]);
    }
  }
}

std::string Error(cudaError_t e, int line) {
  return std::string("CUDA error at kernels/grouped_lora_cuda.cu:") + std::to_string(line) + ": " +
         cudaGetErrorString(e);
}

template <typename T>
std::string Run(const std::vector<GemmProblem>& problems) {
  for (size_t first = 0; first < problems.size(); first += kMaxGemmProblemsPerLaunch) {
    Launch launch;
    int64_t tiles = 0;
    const size_t end = std::min(problems.size(), first + kMaxGemmProblemsPerLaunch);
    for (size_t i = first; i < end; ++i) {
      const GemmProblem& prob = problems[i];
      launch.problems[launch.count] = prob;
      launch.first_tile[launch.count] = static_cast<int32_t>(tiles);
      ++launch.count;
      tiles += ((prob.m + kTile - 1) / kTile) * ((prob.n + kTile - 1) / kTile);
      if (tiles > INT32_MAX) {
        return "grouped GEMM at kernels/grouped_lora_cuda.cu:" + std::to_string(__LINE__) +
               ": more than 2^31 - 1 output tiles of 64x64 in one launch";
      }
    }
    launch.first_tile[launch.count] = static_cast<int32_t>(tiles);
    if (tiles == 0) continue;
    GroupedGemmKernel<T><<<static_cast<unsigned>(tiles), kThreads>>>(launch);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return Error(e, __LINE__);
  }
  return "";
}

}  // namespace

std::string GroupedGemm(const std::vector<GemmProblem>& problems, GemmDtype dtype) {
  switch (dtype) {
    case GemmDtype::kFloat32:
      return Run<float>(problems);
    case GemmDtype::kFloat16:
      return Run<__half>(problems);
    case GemmDtype::kBFloat16:
      return Run<__nv_bfloat16>(problems);
  }
  return "grouped GEMM at kernels/grouped_lora_cuda.cu:" + std::to_string(__LINE__) +
         ": unknown dtype";
}

}  // namespace lf::kernels::cuda
