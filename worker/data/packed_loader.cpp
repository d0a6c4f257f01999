#include "worker/data/packed_loader.h"

#include <algorithm>
#include <string>
#include <utility>

#include "worker/data/shuffle.h"

namespace lf::worker {
namespace {

Status CheckAtLeast(const char* name, int64_t value, int64_t min) {
  if (value >= min) return Status::Ok();
  return InvalidArgument(std::string(name) + " must be at least " + std::to_string(min) + ", got " +
                         std::to_string(value));
}

}  // namespace

Result<PackedLoader> PackedLoader::Create(std::vector<Example> examples,
                                          const PackedLoaderOptions& options) {
  LF_RETURN_IF_ERROR(CheckAtLeast("seq_len", options.seq_len, 1));
  LF_RETURN_IF_ERROR(CheckAtLeast("batch_size", options.batch_size, 1));
  LF_RETURN_IF_ERROR(CheckAtLeast("world", options.world, 1));
  if (options.rank < 0 || options.rank >= options.world) {
    return InvalidArgument("rank must be in [0, world) = [0, " + std::to_string(options.world) +
                           "), got " + std::to_string(options.rank));
  }
  for (const Example& example : examples) {
    if (example.ids.empty() || example.ids.size() != example.loss.size()) {
      return InvalidArgument("an example has " + std::to_string(example.ids.size()) + " ids and " +
                             std::to_string(example.loss.size()) + " loss flags; expected the " +
                             "same number, at least 1");
    }
  }
  DataStats stats = CountTokens(examples);
  if (stats.tokens < options.seq_len + 1) {
    return InvalidArgument("the training data has " + std::to_string(stats.tokens) + " tokens in " +
                           std::to_string(stats.examples) +
                           " examples, but one packed row of seq_len " +
                           std::to_string(options.seq_len) + " needs " +
                           std::to_string(options.seq_len + 1) + "; add data or lower seq_len");
  }
  return PackedLoader(std::move(examples), options, stats);
}

PackedLoader::PackedLoader(std::vector<Example> examples, const PackedLoaderOptions& options,
                           const DataStats& stats)
    : examples_(std::move(examples)),
      options_(options),
      stats_(stats),
      rows_per_epoch_((stats.tokens - 1) / options.seq_len) {}

Batch PackedLoader::Next() {
  const int64_t seq_len = options_.seq_len;
  Batch batch;
  batch.rows = options_.batch_size;
  batch.seq_len = seq_len;
  batch.input_ids.resize(static_cast<size_t>(batch.rows * seq_len));
  batch.labels.resize(batch.input_ids.size());
  batch.lengths.assign(static_cast<size_t>(batch.rows), seq_len);
  batch.tokens = batch.rows * seq_len;
  const int64_t global_rows = options_.batch_size * options_.world;
  const int64_t first = step_ * global_rows + options_.rank * options_.batch_size;
  for (int64_t r = 0; r < batch.rows; ++r) {
    FillRow(first + r, batch.input_ids.data() + r * seq_len, batch.labels.data() + r * seq_len,
            &batch.loss_tokens);
  }
  ++step_;
  return batch;
}

void PackedLoader::SeekToStep(int64_t step) {
  LF_CHECK_MSG(step >= 0, "SeekToStep(" + std::to_string(step) + ")");
  step_ = step;
}

double PackedLoader::epochs_done() const {
  return static_cast<double>(step_) * static_cast<double>(options_.batch_size * options_.world) /
         static_cast<double>(rows_per_epoch_);
}

void PackedLoader::ShuffleEpoch(int64_t epoch) {
  order_ = ShuffledIndices(static_cast<int64_t>(examples_.size()), EpochSeed(options_.seed, epoch));
  starts_.resize(order_.size() + 1);
  starts_[0] = 0;
  for (size_t i = 0; i < order_.size(); ++i) {
    starts_[i + 1] =
        starts_[i] + static_cast<int64_t>(examples_[static_cast<size_t>(order_[i])].ids.size());
  }
  epoch_ = epoch;
}

void PackedLoader::FillRow(int64_t row, int64_t* inputs, int64_t* labels, int64_t* loss_tokens) {
  const int64_t epoch = row / rows_per_epoch_;
  if (epoch != epoch_) ShuffleEpoch(epoch);
  // Row w reads stream tokens [w * seq_len, (w + 1) * seq_len]: seq_len + 1 tokens, so rows
  // overlap by one token and every token after the first is a target exactly once per epoch.
  const int64_t seq_len = options_.seq_len;
  const int64_t start = (row % rows_per_epoch_) * seq_len;
  // The example holding token `start`: the last one that starts at or before it.
  size_t k = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), start) -
                                 starts_.begin()) -
             1;
  for (int64_t t = 0; t <= seq_len; ++t) {
    const int64_t pos = start + t;
    while (pos >= starts_[k + 1]) ++k;
    const Example& example = examples_[static_cast<size_t>(order_[k])];
    const auto offset = static_cast<size_t>(pos - starts_[k]);
    const int64_t id = example.ids[offset];
    if (t < seq_len) inputs[t] = id;
    if (t > 0) {
      labels[t - 1] = example.loss[offset] ? id : kIgnoreIndex;
      *loss_tokens += example.loss[offset];
    }
  }
}

}  // namespace lf::worker
