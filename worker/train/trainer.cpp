#include "worker/train/trainer.h"

#include "worker/train/training_run.h"

namespace lf::worker {

Trainer::Trainer(CausalLm& model, Adapter* adapter, const jobs::TrainSpec& spec,
                 TrainerOptions options)
    : model_(model), adapter_(adapter), spec_(spec), options_(std::move(options)) {}

Result<TrainResult> Trainer::Run(PackedLoader& train, const std::vector<Batch>& eval) {
  // The model computes with the adapter it trains (full fine-tuning: the base alone) until Run
  // returns, whatever its hook was before.
  ScopedHook attached(model_, adapter_);
  TrainingRun run(model_, adapter_, spec_, options_, train, eval);
  LF_RETURN_IF_ERROR(run.Begin());
  while (run.BeginStep()) {
    torch::Tensor step_loss;  // stays on the device: EndStep decides when to read it
    for (int64_t micro = 0; micro < spec_.grad_accum; ++micro) {
      MicroBatch batch = run.NextMicroBatch();
      torch::Tensor loss =
          run.StepLoss(model_.ForwardHidden(batch.input_ids, batch.document_ids), batch);
      run.ForBackward(loss).backward();
      torch::Tensor detached = loss.detach().to(torch::kFloat64);
      step_loss = step_loss.defined() ? step_loss + detached : detached;
    }
    LF_RETURN_IF_ERROR(run.EndStep(step_loss));
  }
  return run.Finish();
}

}  // namespace lf::worker
