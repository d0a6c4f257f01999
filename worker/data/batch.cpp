#include "worker/data/batch.h"

#include <algorithm>
#include <string>

namespace lf::worker {

std::vector<int64_t> AttentionMask(const Batch& batch) {
  std::vector<int64_t> mask(static_cast<size_t>(batch.rows * batch.seq_len), 0);
  for (int64_t r = 0; r < batch.rows; ++r) {
    std::fill_n(mask.begin() + r * batch.seq_len, batch.lengths[static_cast<size_t>(r)], 1);
  }
  return mask;
}

Result<std::vector<Batch>> EvalBatches(std::span<const Example> examples, int64_t seq_len,
                                       int64_t batch_size, int32_t pad_id) {
  if (seq_len < 1)
    return InvalidArgument("seq_len must be at least 1, got " + std::to_string(seq_len));
  if (batch_size < 1) {
    return InvalidArgument("batch_size must be at least 1, got " + std::to_string(batch_size));
  }
  std::vector<const Example*> rows;
  for (const Example& example : examples) {
    LF_CHECK(example.loss.size() == example.ids.size());
    if (example.ids.size() >= 2) rows.push_back(&example);
  }
  std::vector<Batch> batches;
  for (size_t first = 0; first < rows.size(); first += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(rows.size(), first + static_cast<size_t>(batch_size));
    Batch batch;
    batch.rows = static_cast<int64_t>(end - first);
    for (size_t i = first; i < end; ++i) {
      const int64_t tokens =
          std::min<int64_t>(static_cast<int64_t>(rows[i]->ids.size()), seq_len + 1);
      batch.lengths.push_back(tokens - 1);
      batch.seq_len = std::max(batch.seq_len, tokens - 1);
    }
    const size_t cells = static_cast<size_t>(batch.rows * batch.seq_len);
    batch.input_ids.assign(cells, pad_id);
    batch.labels.assign(cells, kIgnoreIndex);
    for (int64_t r = 0; r < batch.rows; ++r) {
      const Example& example = *rows[first + static_cast<size_t>(r)];
      const int64_t length = batch.lengths[static_cast<size_t>(r)];
      int64_t* inputs = batch.input_ids.data() + r * batch.seq_len;
      int64_t* labels = batch.labels.data() + r * batch.seq_len;
      for (int64_t t = 0; t < length; ++t) {
        const auto next = static_cast<size_t>(t + 1);
        inputs[t] = example.ids[next - 1];
        if (example.loss[next]) {
          labels[t] = example.ids[next];
          ++batch.loss_tokens;
        }
      }
      batch.tokens += length;
    }
    batches.push_back(std::move(batch));
  }
  return batches;
}

}  // namespace lf::worker
