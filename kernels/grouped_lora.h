// GroupedLora: the adapter half of packed multi-adapter training. K trials' micro-batches are
// concatenated along rows; the frozen base matmul runs once over all of them (the caller's), and
// each trial's LoRA path runs on its own rows only. Differentiable with respect to x and every
// a[k] and b[k]; only those, a per-trial x_k @ a_k^T and the offsets are kept for backward.
// Stateless and thread-safe; runs where x is (CPU, or CUDA when built).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace lf::kernels {

// x [N, in]: the rows of trial k are [offsets[k], offsets[k + 1]), so offsets has K + 1 entries
// from 0 to N, non-decreasing (a trial may have no rows). a[k] [r_k, in], b[k] [out, r_k]: ranks
// may differ per trial; scaling[k] is trial k's alpha / r. Returns delta [N, out] with
//   delta[rows_k] = scaling_k * (x[rows_k] @ a_k^T) @ b_k^T,
// for one trial on the CPU bit for bit what torch::matmul(torch::matmul(x, a.t()), b.t()) * s
// gives (worker/peft/lora.cpp). x is 2-D: callers flatten [batch, seq, in] with reshape({-1, in}).
// Everything must share x's dtype and device; a bad shape, list size, offset, dtype or device
// throws c10::Error naming the trial and what is wrong, as the torch ops beside it do.
torch::Tensor GroupedLora(const torch::Tensor& x, const std::vector<int64_t>& offsets,
                          const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                          const std::vector<double>& scaling);

// On CUDA, float16 and bfloat16 run on tensor cores through cuBLAS's grouped GEMM (fp32
// accumulation) where the build and the loaded libcublas have it (cuBLAS >= 12.5; otherwise
// GroupedLoraHasTensorCorePath() is false), float32 on the SIMT kernel; the same
// products either way, to rounding. UseGroupedLoraTensorCores(false) sends half precision to
// the SIMT kernel too, for tests and benchmarks that compare them: process-wide, thread-safe,
// on by default, and read at each call.
bool GroupedLoraHasTensorCorePath();
void UseGroupedLoraTensorCores(bool use);

}  // namespace lf::kernels
