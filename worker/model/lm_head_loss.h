// The LM head and the next-token cross-entropy fused and chunked: the loss of hidden states under
// a head weight, computed over `chunk_tokens` tokens at a time, so the [tokens, vocab] fp32 logits
// are never held whole. Backward recomputes each chunk's logits and gives gradients for the hidden
// states (and the head weight only when it requires grad: full fine-tuning, pretraining). Equal
// to logits = hidden · weightᵀ (optionally soft-capped) then CausalLmLossSum, to rounding.
// Stateless; thread-safe.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace lf::worker {

// Tokens per chunk: [1024, vocab] fp32 logits are 200 MiB for GPT-2's vocabulary, a small part
// of what the whole batch's would be.
inline constexpr int64_t kLmHeadChunkTokens = 1024;

// What a causal LM's head turns into logits (CausalLm::ForwardHidden).
struct LmHeadInput {
  torch::Tensor hidden;  // [batch, seq, hidden] in the compute dtype, after the final norm
  torch::Tensor weight;  // [vocab, hidden]
  double softcap = 0;    // > 0: logits = softcap · tanh(logits / softcap) (Gemma 2)

  // Rows [offset, offset + rows) of the batch (a pack's trial).
  LmHeadInput Rows(int64_t offset, int64_t rows) const {
    return {hidden.narrow(0, offset, rows), weight, softcap};
  }
};

// The logits [batch, seq, vocab] in the compute dtype, as the unfused model returns them.
torch::Tensor LmHeadLogits(const LmHeadInput& head);

// Σ over positions whose label is not -100 of -log softmax(logits)[label], in fp32 (a 0-dim
// tensor); labels [batch, seq] int64 (already shifted: labels[i] is the token after i).
torch::Tensor LmHeadLossSum(const LmHeadInput& head, const torch::Tensor& labels,
                            int64_t chunk_tokens = kLmHeadChunkTokens);
// The mean over those positions (NaN when there are none, as torch's cross_entropy).
torch::Tensor LmHeadLoss(const LmHeadInput& head, const torch::Tensor& labels,
                         int64_t chunk_tokens = kLmHeadChunkTokens);

}  // namespace lf::worker
