// Training batches packed from examples (docs/formats/data.md): each epoch shuffles the examples
// with EpochSeed(seed, epoch), concatenates them into one token stream and cuts it into rows of
// seq_len inputs; epochs follow one another as one endless sequence of rows, and step s of a
// data-parallel run gives rank r the contiguous slice [r * batch_size, (r + 1) * batch_size) of
// the step's global batch of world * batch_size rows. A batch is a pure function of (examples,
// options, step), so SeekToStep(step) resumes exactly. Not thread-safe: one loader per thread.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "worker/data/batch.h"
#include "worker/data/example.h"

namespace lf::worker {

struct PackedLoaderOptions {
  int64_t seq_len = 0;     // input positions per row
  int64_t batch_size = 0;  // rows per rank per step
  uint64_t seed = 0;
  int rank = 0;
  int world = 1;
};

class PackedLoader {
 public:
  // Errors: an option out of range, no examples, or fewer than seq_len + 1 tokens in all
  // (the message says how many there are and how many are needed).
  static Result<PackedLoader> Create(std::vector<Example> examples,
                                     const PackedLoaderOptions& options);

  // This rank's rows of the current step; then moves to the next step.
  Batch Next();
  // The next call to Next() returns step `step`'s batch (0-based: the steps already taken).
  void SeekToStep(int64_t step);
  int64_t step() const { return step_; }

  // Rows one pass over the data gives: (tokens - 1) / seq_len, the remainder of the stream
  // (fewer than seq_len tokens) being dropped; which tokens those are changes every epoch.
  int64_t rows_per_epoch() const { return rows_per_epoch_; }
  // Epochs completed by the global rows of the steps taken so far, e.g. 2.5.
  double epochs_done() const;
  int64_t tokens_per_step() const { return options_.batch_size * options_.seq_len; }  // per rank
  const DataStats& stats() const { return stats_; }
  const PackedLoaderOptions& options() const { return options_; }

 private:
  PackedLoader(std::vector<Example> examples, const PackedLoaderOptions& options,
               const DataStats& stats);
  // Writes global row `row`'s seq_len inputs and labels.
  void FillRow(int64_t row, int64_t* inputs, int64_t* labels, int64_t* loss_tokens);
  void ShuffleEpoch(int64_t epoch);

  std::vector<Example> examples_;
  PackedLoaderOptions options_;
  DataStats stats_;
  int64_t rows_per_epoch_ = 0;
  int64_t step_ = 0;
  // The stream of `epoch_`: example order_[i] starts at token starts_[i]; starts_.back() is the
  // stream's length. Rebuilt when a row of another epoch is asked for.
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;
  std::vector<int64_t> starts_;
};

}  // namespace lf::worker
