// Nf4Linear: a linear layer over a frozen NF4 weight (QLoRA's base layer). The weight is
// dequantised on the fly, a bounded number of rows at a time, in forward and again in backward;
// only the NF4 tensor is kept for backward. Differentiable with respect to x (and bias), never the
// weight. Stateless and thread-safe; runs where x and the weight are (CPU, or CUDA when built).
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "kernels/nf4.h"

namespace lf::kernels {

// At most this many weight values are dequantised at once (16 MiB as fp32): a 4096x11008 weight
// is never materialised whole.
inline constexpr int64_t kNf4LinearChunkValues = int64_t{1} << 22;

// x [..., in] @ dequant(w)^T (+ bias) for a 2-D weight [out, in], in x's dtype and on x's device
// (w must be there too: Nf4Tensor::To). Like the torch ops it stands beside, a bad shape, dtype or
// device throws c10::Error saying which; callers catch it where they catch LibTorch's errors.
// `max_chunk_values` bounds the dequantised temporary (tests make it small to cross chunks).
torch::Tensor Nf4Linear(const torch::Tensor& x, const Nf4Tensor& w,
                        const c10::optional<torch::Tensor>& bias = c10::nullopt,
                        int64_t max_chunk_values = kNf4LinearChunkValues);

}  // namespace lf::kernels
