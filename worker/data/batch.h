// Batches as the trainer receives them: token ids and next-token labels in row-major vectors that
// it wraps as [rows, seq_len] int64 tensors. Labels are already shifted: labels[t] is the target
// of position t, so the loss is a plain cross-entropy over positions (do not shift again, as
// Hugging Face models do when given labels = input_ids). Values; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "worker/data/example.h"

namespace lf::worker {

// Hugging Face's ignore index: positions whose label is this contribute no loss.
inline constexpr int64_t kIgnoreIndex = -100;

struct Batch {
  int64_t rows = 0;
  int64_t seq_len = 0;             // columns of input_ids and labels
  std::vector<int64_t> input_ids;  // rows * seq_len
  std::vector<int64_t> labels;     // rows * seq_len: next token id, or kIgnoreIndex
  // Real tokens of each row; positions t >= lengths[r] are right padding (pad id, kIgnoreIndex).
  // Stream-packed rows are always full.
  std::vector<int64_t> lengths;
  // rows * seq_len when rows hold several examples (packing: documents): the index of the
  // example each position belongs to within its row (padding after the last), so that the model
  // masks attention between examples and restarts positions at each. Empty otherwise.
  std::vector<int64_t> document_ids;
  int64_t tokens = 0;       // sum of lengths: what tokens/s counts
  int64_t loss_tokens = 0;  // labels that are not kIgnoreIndex: what the loss is averaged over
};

// 1 for real tokens, 0 for padding, rows * seq_len: Hugging Face's attention_mask.
std::vector<int64_t> AttentionMask(const Batch& batch);

// Evaluation rows, in the examples' order: each example its own row, cut to its first seq_len + 1
// tokens (inputs are the first seq_len of them), right-padded with pad_id to the longest row of
// its batch. Batches hold batch_size rows, the last one fewer. Examples with a single token have
// nothing to predict and give no row. Errors: seq_len or batch_size < 1.
Result<std::vector<Batch>> EvalBatches(std::span<const Example> examples, int64_t seq_len,
                                       int64_t batch_size, int32_t pad_id);

}  // namespace lf::worker
