// Training batches packed from examples (docs/formats/data.md): each epoch shuffles the examples
// with EpochSeed(seed, epoch) and lays them out in rows of seq_len inputs, by one of three rules
// (jobs::DataPacking): a stream cut into rows, whole examples packed into rows with a document
// mask, or one example per row. Epochs follow one another as one endless sequence of rows, and
// step s of a data-parallel run gives rank r the contiguous slice [r * batch_size,
// (r + 1) * batch_size) of the step's global batch of world * batch_size rows. A batch is a pure
// function of (examples, options, step), so SeekToStep(step) resumes exactly. Not thread-safe:
// one loader per thread.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "jobs/job_spec.h"
#include "worker/data/batch.h"
#include "worker/data/example.h"

namespace lf::worker {

struct PackedLoaderOptions {
  int64_t seq_len = 0;     // input positions per row
  int64_t batch_size = 0;  // rows per rank per step
  uint64_t seed = 0;
  int rank = 0;
  int world = 1;
  // kStream, kDocuments or kPad (the caller resolves kAuto). In kDocuments and kPad an example
  // takes its first seq_len + 1 tokens: tokens[0..n-1) are inputs and tokens[1..n) their labels,
  // as in evaluation; rows are right-padded with pad_id (label kIgnoreIndex).
  jobs::DataPacking packing = jobs::DataPacking::kStream;
  int32_t pad_id = 0;
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

  // Rows of epoch 0. kStream: (tokens - 1) / seq_len in every epoch, the remainder of the stream
  // (fewer than seq_len tokens) being dropped; which tokens those are changes every epoch.
  // kPad: one per example with two tokens or more. kDocuments: what greedy packing of that
  // epoch's order gives, so other epochs may differ by a few rows.
  int64_t rows_per_epoch() { return EpochRows(0); }
  // Epochs completed by the global rows of the steps taken so far, e.g. 2.5.
  double epochs_done();
  int64_t tokens_per_step() const { return options_.batch_size * options_.seq_len; }  // per rank
  const DataStats& stats() const { return stats_; }
  const PackedLoaderOptions& options() const { return options_; }

 private:
  PackedLoader(std::vector<Example> examples, const PackedLoaderOptions& options,
               const DataStats& stats);
  // One row of the current step: its seq_len inputs, labels and (kDocuments) document ids.
  struct RowOut {
    int64_t* inputs;
    int64_t* labels;
    int64_t* documents;  // null unless kDocuments
    int64_t* loss_tokens;
  };
  // Writes global row `row`; returns its real (unpadded) positions.
  int64_t FillRow(int64_t row, const RowOut& out);
  int64_t FillStreamRow(int64_t row_in_epoch, const RowOut& out);
  int64_t FillExampleRow(int64_t row_in_epoch, const RowOut& out);
  void ShuffleEpoch(int64_t epoch);
  // Rows of epoch `epoch` (kDocuments: packs the epochs up to it once, then remembers).
  int64_t EpochRows(int64_t epoch);
  // The epoch holding global row `row`, and the row's index inside it.
  std::pair<int64_t, int64_t> LocateRow(int64_t row);
  // Input positions example i takes in a row (kDocuments, kPad): min(n, seq_len + 1) - 1.
  int64_t Positions(int64_t example) const;
  // kDocuments: the order's examples packed greedily into rows; row r holds
  // order_[row_starts[r] .. row_starts[r + 1]).
  std::vector<int64_t> PackRows(const std::vector<int64_t>& order) const;

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
  // kDocuments: the rows of epoch_ (see PackRows), and the row count of each epoch packed so far.
  // kPad: order_ lists the examples with something to predict, one per row.
  std::vector<int64_t> row_starts_;
  std::vector<int64_t> epoch_rows_;
};

}  // namespace lf::worker
