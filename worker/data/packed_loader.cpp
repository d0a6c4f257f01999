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
  LF_CHECK_MSG(options.packing != jobs::DataPacking::kAuto, "the caller resolves packing: auto");
  for (const Example& example : examples) {
    if (example.ids.empty() || example.ids.size() != example.loss.size()) {
      return InvalidArgument("an example has " + std::to_string(example.ids.size()) + " ids and " +
                             std::to_string(example.loss.size()) + " loss flags; expected the " +
                             "same number, at least 1");
    }
  }
  if (options.packing != jobs::DataPacking::kStream) {
    // A one-token example has nothing to predict in a row of its own.
    std::erase_if(examples, [](const Example& e) { return e.ids.size() < 2; });
    if (examples.empty()) {
      return InvalidArgument("the training data has no example of two tokens or more, which " +
                             std::string("packing: ") +
                             std::string(jobs::DataPackingName(options.packing)) + " needs");
    }
    const DataStats stats = CountTokens(examples);
    return PackedLoader(std::move(examples), options, stats);
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
      rows_per_epoch_(options.packing == jobs::DataPacking::kStream
                          ? (stats.tokens - 1) / options.seq_len
                          : static_cast<int64_t>(examples_.size())) {}

Batch PackedLoader::Next() {
  const int64_t seq_len = options_.seq_len;
  Batch batch;
  batch.rows = options_.batch_size;
  batch.seq_len = seq_len;
  const auto cells = static_cast<size_t>(batch.rows * seq_len);
  batch.input_ids.resize(cells);
  batch.labels.resize(cells);
  const bool documents = options_.packing == jobs::DataPacking::kDocuments;
  if (documents) batch.document_ids.resize(cells);
  const int64_t global_rows = options_.batch_size * options_.world;
  const int64_t first = step_ * global_rows + options_.rank * options_.batch_size;
  for (int64_t r = 0; r < batch.rows; ++r) {
    const int64_t length =
        FillRow(first + r, {.inputs = batch.input_ids.data() + r * seq_len,
                            .labels = batch.labels.data() + r * seq_len,
                            .documents = documents ? batch.document_ids.data() + r * seq_len
                                                   : nullptr,
                            .loss_tokens = &batch.loss_tokens});
    batch.lengths.push_back(length);
    batch.tokens += length;
  }
  ++step_;
  return batch;
}

void PackedLoader::SeekToStep(int64_t step) {
  LF_CHECK_MSG(step >= 0, "SeekToStep(" + std::to_string(step) + ")");
  step_ = step;
}

double PackedLoader::epochs_done() {
  const auto [epoch, row] = LocateRow(step_ * options_.batch_size * options_.world);
  return static_cast<double>(epoch) +
         static_cast<double>(row) / static_cast<double>(EpochRows(epoch));
}

int64_t PackedLoader::Positions(int64_t example) const {
  const auto n = static_cast<int64_t>(examples_[static_cast<size_t>(example)].ids.size());
  return std::min(n, options_.seq_len + 1) - 1;
}

std::vector<int64_t> PackedLoader::PackRows(const std::vector<int64_t>& order) const {
  std::vector<int64_t> row_starts = {0};
  int64_t used = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const int64_t positions = Positions(order[i]);
    if (used > 0 && used + positions > options_.seq_len) {
      row_starts.push_back(static_cast<int64_t>(i));
      used = 0;
    }
    used += positions;
  }
  row_starts.push_back(static_cast<int64_t>(order.size()));
  return row_starts;
}

int64_t PackedLoader::EpochRows(int64_t epoch) {
  if (options_.packing != jobs::DataPacking::kDocuments) return rows_per_epoch_;
  while (static_cast<int64_t>(epoch_rows_.size()) <= epoch) {
    const auto e = static_cast<int64_t>(epoch_rows_.size());
    const std::vector<int64_t> order =
        ShuffledIndices(static_cast<int64_t>(examples_.size()), EpochSeed(options_.seed, e));
    epoch_rows_.push_back(static_cast<int64_t>(PackRows(order).size()) - 1);
  }
  return epoch_rows_[static_cast<size_t>(epoch)];
}

std::pair<int64_t, int64_t> PackedLoader::LocateRow(int64_t row) {
  if (options_.packing != jobs::DataPacking::kDocuments) {
    return {row / rows_per_epoch_, row % rows_per_epoch_};
  }
  int64_t epoch = 0;
  while (row >= EpochRows(epoch)) row -= EpochRows(epoch++);
  return {epoch, row};
}

void PackedLoader::ShuffleEpoch(int64_t epoch) {
  order_ = ShuffledIndices(static_cast<int64_t>(examples_.size()), EpochSeed(options_.seed, epoch));
  epoch_ = epoch;
  if (options_.packing == jobs::DataPacking::kDocuments) {
    row_starts_ = PackRows(order_);
    return;
  }
  starts_.resize(order_.size() + 1);
  starts_[0] = 0;
  for (size_t i = 0; i < order_.size(); ++i) {
    starts_[i + 1] =
        starts_[i] + static_cast<int64_t>(examples_[static_cast<size_t>(order_[i])].ids.size());
  }
}

int64_t PackedLoader::FillRow(int64_t row, const RowOut& out) {
  const auto [epoch, row_in_epoch] = LocateRow(row);
  if (epoch != epoch_) ShuffleEpoch(epoch);
  return options_.packing == jobs::DataPacking::kStream ? FillStreamRow(row_in_epoch, out)
                                                        : FillExampleRow(row_in_epoch, out);
}

int64_t PackedLoader::FillStreamRow(int64_t row_in_epoch, const RowOut& out) {
  // Row w reads stream tokens [w * seq_len, (w + 1) * seq_len]: seq_len + 1 tokens, so rows
  // overlap by one token and every token after the first is a target exactly once per epoch.
  const int64_t seq_len = options_.seq_len;
  const int64_t start = row_in_epoch * seq_len;
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
    if (t < seq_len) out.inputs[t] = id;
    if (t > 0) {
      out.labels[t - 1] = example.loss[offset] ? id : kIgnoreIndex;
      *out.loss_tokens += example.loss[offset];
    }
  }
  return seq_len;
}

int64_t PackedLoader::FillExampleRow(int64_t row_in_epoch, const RowOut& out) {
  const int64_t seq_len = options_.seq_len;
  const bool documents = options_.packing == jobs::DataPacking::kDocuments;
  const int64_t begin = documents ? row_starts_[static_cast<size_t>(row_in_epoch)] : row_in_epoch;
  const int64_t end = documents ? row_starts_[static_cast<size_t>(row_in_epoch) + 1] : begin + 1;
  std::fill_n(out.inputs, seq_len, options_.pad_id);
  std::fill_n(out.labels, seq_len, kIgnoreIndex);
  int64_t t = 0;
  for (int64_t i = begin; i < end; ++i) {
    const Example& example = examples_[static_cast<size_t>(order_[static_cast<size_t>(i)])];
    const int64_t positions = Positions(order_[static_cast<size_t>(i)]);
    for (int64_t p = 0; p < positions; ++p, ++t) {
      const auto next = static_cast<size_t>(p + 1);
      out.inputs[t] = example.ids[next - 1];
      if (example.loss[next]) {
        out.labels[t] = example.ids[next];
        ++*out.loss_tokens;
      }
      if (documents) out.documents[t] = i - begin;
    }
  }
  // Padding is a document of its own, so no real token attends to it.
  if (documents) std::fill(out.documents + t, out.documents + seq_len, end - begin);
  return t;
}

}  // namespace lf::worker
