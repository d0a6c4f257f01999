// One trial's training as a sequence of optimizer steps, for the loops that drive it: Trainer
// (one trial, its own forward passes) and PackedTrainer (several trials in one forward pass). A
// run owns what is the trial's alone: AdamW over its trainable tensors, the learning-rate
// schedule, gradient accumulation and clipping, periodic evaluation and checkpoints, resume, and
// the result; the driver runs each micro-batch's forward and backward. Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "worker/data/packed_loader.h"
#include "worker/model/causal_lm.h"
#include "worker/peft/adapter.h"
#include "worker/train/adamw.h"
#include "worker/train/precision.h"
#include "worker/train/progress.h"
#include "worker/train/train_result.h"
#include "worker/train/trainer.h"

namespace lf::worker {

struct MicroBatch {
  torch::Tensor input_ids;  // [rows, seq_len] int64 on the model's device
  torch::Tensor labels;     // [rows, seq_len]
  // [rows, seq_len] when rows pack several examples (Batch::document_ids); else undefined.
  torch::Tensor document_ids;
  int64_t tokens = 0;
  int64_t gang_loss_tokens = 0;  // in a gang: the labelled tokens of every member's rows
};

class TrainingRun {
 public:
  // `adapter` null: every base weight trains (full fine-tuning). `shared`: other runs train on
  // the same model at the same time (a pack), so the global RNG and the peak-memory counter are
  // not this run's: a checkpoint's RNG state is not restored and the peak is not reset.
  // Everything passed must outlive the run.
  TrainingRun(CausalLm& model, Adapter* adapter, const jobs::TrainSpec& spec,
              TrainerOptions options, PackedLoader& train, const std::vector<Batch>& eval,
              bool shared = false);
  ~TrainingRun();

  // Creates the optimizer, resumes from the newest checkpoint (options.resume) and evaluates the
  // starting point. Call once, first.
  Status Begin();
  // Starts the next optimizer step: polls options.stop_requested and finish_requested (in a
  // gang, agreeing with the others, so all stop at one step), sets the learning rate and zeroes
  // the gradients. False when the run has nothing more to do (then call Finish).
  bool BeginStep();
  // The step's next micro-batch (spec.grad_accum of them per step).
  MicroBatch NextMicroBatch();
  // What the driver back-propagates for a micro-batch, given the model's final hidden states and
  // LM head for it (CausalLm::ForwardHidden; the loss never holds all logits at once): its mean
  // loss divided by spec.grad_accum; in a gang, its loss summed over its tokens and divided by
  // the gang's (and grad_accum), so the members' gradients add up to those of one batch of all
  // their rows.
  torch::Tensor StepLoss(const LmHeadInput& head, const MicroBatch& batch) const;
  // What the driver calls backward on for a StepLoss value (or a pack's sum of them): fp16 runs
  // scale it (LossScaler); every other precision returns it unchanged.
  torch::Tensor ForBackward(const torch::Tensor& step_loss) const {
    return scaler_.enabled() ? step_loss * scaler_.scale() : step_loss;
  }
  // After every micro-batch of the step went backward, `loss` the sum of their StepLoss values
  // (detached, still on the device): (in a gang, sums gradients and loss across it,) clips, steps
  // the optimizer, evaluates and checkpoints when due. The step's loss and gradient norm are read
  // back to the host only every sync interval (TrainerOptions::sync_every) and before an
  // evaluation, a checkpoint or the end, so a GPU step never waits for the host; the steps read
  // back are then reported in order (result losses, on_step, progress). A non-finite loss ends the
  // run (BeginStep is then false) with the reason and the step it happened at.
  Status EndStep(const torch::Tensor& loss);
  // Writes the checkpoint a stop leaves, evaluates the result and reports it. Call once, last.
  Result<TrainResult> Finish();

  // No step left: all done, stopped, or ended by a non-finite loss (BeginStep may also find a
  // stop request first).
  bool done() const { return ended_ || step_ >= spec_.steps; }
  const jobs::TrainSpec& spec() const { return spec_; }
  int64_t step() const { return step_; }  // optimizer steps done
  Adapter* adapter() const { return adapter_; }

 private:
  std::vector<torch::Tensor> Trainable();
  std::map<std::string, torch::Tensor> TrainableState() const;
  // Evaluation with this run's adapter as the model's hook, in eval mode.
  EvalResult EvaluateNow();
  Status SaveCheckpoint(int64_t step);
  // Returns the step to continue from (0 when there is no checkpoint).
  Result<int64_t> RestoreCheckpoint();
  // Reads back and reports the steps not yet read back (see EndStep).
  void ReadBack();

  CausalLm& model_;
  Adapter* adapter_;
  jobs::TrainSpec spec_;
  TrainerOptions options_;
  PackedLoader& train_;
  const std::vector<Batch>& eval_;
  bool shared_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<ForeachAdamW> optimizer_;
  LossScaler scaler_{false};  // enabled for fp16
  std::optional<ProgressBar> bar_;
  TrainResult result_;
  int64_t step_ = 0;
  double lr_ = 0;
  bool ended_ = false;  // stopped, or a non-finite loss: no more steps
  Status gang_status_;  // the first failed exchange with the gang this step, if any
  std::chrono::steady_clock::time_point t0_;
  // Steps done but not yet read back: their loss and gradient norm are still device tensors.
  struct PendingStep {
    StepMetrics metrics;  // loss and grad_norm filled in when read back
    torch::Tensor loss, grad_norm;
    double elapsed_s = 0;
  };
  std::vector<PendingStep> pending_;
  int64_t sync_every_ = 1;
};

}  // namespace lf::worker
