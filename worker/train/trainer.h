// The training loop: AdamW over the trainable tensors (an adapter's, or the whole base for full
// fine-tuning and pretraining), learning-rate schedule with warmup, gradient accumulation and
// clipping, periodic evaluation and checkpoints, resume that continues exactly where a run
// stopped, and a stop with a reason on a NaN or infinite loss. Runs on the calling thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "jobs/job_spec.h"
#include "worker/data/packed_loader.h"
#include "worker/model/causal_lm.h"
#include "worker/peft/adapter.h"
#include "worker/train/train_result.h"

namespace lf::worker {

class Collective;  // worker/collective/collective.h

struct TrainerOptions {
  std::string label = "train";  // shown on the progress bar
  bool progress = true;
  std::string checkpoint_dir;  // empty: no checkpoints
  bool resume = true;          // continue from the newest checkpoint in checkpoint_dir
  std::function<void(const StepMetrics&)> on_step;  // every optimizer step (metrics sinks)
  // After a checkpoint folder is complete on disk (periodic ones and the one a stop writes).
  std::function<void(int64_t step, const std::string& dir)> on_checkpoint;
  std::function<bool()> stop_requested;             // polled between steps (SIGTERM)
  // Polled between steps: true ends the run there as if that step were the last (final eval,
  // result completed and early_stopped), for early stopping.
  std::function<bool()> finish_requested;
  // A gang's communicator (not owned): the trial trains data-parallel with the other members,
  // each on its rank's rows of every batch (the loader's rank and world), their gradients summed
  // before every step so all take the same one. Null: alone.
  Collective* gang = nullptr;
  // Steps between reads of the loss and gradient norm from the device (each read waits for the
  // device to finish). 0: every step on the CPU, where values are ready anyway, and every
  // train.log_every steps on CUDA. Evaluations, checkpoints and the end read back regardless.
  int64_t sync_every = 0;
};

// One trial on its own model: drives a TrainingRun (worker/train/training_run.h) with a forward
// and backward pass per micro-batch. PackedTrainer drives several in one pass.
class Trainer {
 public:
  // `adapter` null: every base weight trains (full fine-tuning).
  Trainer(CausalLm& model, Adapter* adapter, const jobs::TrainSpec& spec, TrainerOptions options);

  // Trains until spec.steps (or a stop), with the adapter attached to the model meanwhile (a
  // ScopedHook). `eval` may be empty.
  Result<TrainResult> Run(PackedLoader& train, const std::vector<Batch>& eval);

 private:
  CausalLm& model_;
  Adapter* adapter_;
  jobs::TrainSpec spec_;
  TrainerOptions options_;
};

// Token-weighted mean loss over the batches, without gradients.
struct EvalResult {
  double loss = 0;
  double perplexity = 0;
  int64_t tokens = 0;
};
EvalResult Evaluate(CausalLm& model, const std::vector<Batch>& batches, int64_t max_batches = 0);

}  // namespace lf::worker
