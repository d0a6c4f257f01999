// The segmented GEMM behind GroupedLora on CUDA, over raw device pointers so this file and
// grouped_lora_cuda.cu need no LibTorch (as nf4_cuda.cuh). kernels/grouped_lora.cpp owns the
// tensors, makes the right device current and describes each trial's product as a GemmProblem;
// one launch then covers every trial's tiles of a stage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lf::kernels::cuda {

// The element type of every operand of one GroupedGemm call; accumulation is always fp32.
enum class GemmDtype { kFloat32, kFloat16, kBFloat16 };

// c = alpha * a @ b for one trial: a [m, k] and b [k, n] are read through element strides (a
// transposed operand is its tensor with the strides swapped), c [m, n] has rows ldc elements
// apart and unit column stride and is written whole: k == 0 writes zeros.
struct GemmProblem {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  const void* a = nullptr;
  int64_t a_row_stride = 0;
  int64_t a_col_stride = 0;
  const void* b = nullptr;
  int64_t b_row_stride = 0;
  int64_t b_col_stride = 0;
  void* c = nullptr;
  int64_t ldc = 0;
  float alpha = 1.0f;
};

// The problems travel in the kernel's arguments (no device buffer, no copy to race with another
// caller), which bounds how many fit one launch; more take ceil(count / this) launches.
inline constexpr int kMaxGemmProblemsPerLaunch = 32;

// Every problem, independent of each other, on the current device and the default stream.
// Returns an empty string, or the CUDA error (or the limit exceeded) with file:line.
std::string GroupedGemm(const std::vector<GemmProblem>& problems, GemmDtype dtype);

// The same on tensor cores for kFloat16 and kBFloat16 (fp32 accumulation), through cuBLAS's
// grouped GEMM (grouped_lora_cublas.cu; built where CUDA >= 12.5, LF_WITH_CUBLAS_GROUPED_GEMM).
// Problems cuBLAS cannot read in place (k == 0, an operand without a unit stride, a pointer not
// 16-byte aligned) run on GroupedGemm's kernel in the same call; kFloat32 runs there entirely.
std::string GroupedGemmTensorCores(const std::vector<GemmProblem>& problems, GemmDtype dtype);
// Whether the libcublas this process loaded has the grouped GEMM (cuBLAS >= 12.5); without it
// GroupedGemmTensorCores runs everything on GroupedGemm's kernel.
bool TensorCoreGemmLoaded();

}  // namespace lf::kernels::cuda
