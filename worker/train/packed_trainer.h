// PackedTrainer: several trials' LoRA adapters trained on one copy of a frozen base model, each
// step one forward and one backward pass over all of their micro-batches (worker/peft/lora_pack.h):
// the base matmuls run once for every trial. Each trial keeps what is its own in a TrainingRun —
// optimizer, schedule, gradient accumulation, data, checkpoints, result — so its losses and its
// adapter are what training it alone gives, to float rounding. (With lora.dropout > 0 the masks
// come from the one shared RNG: drawn as alone, not the same draws.) Trials join (Add) and leave
// (when done) between steps without disturbing the others. Used by one thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "worker/peft/lora_pack.h"
#include "worker/train/training_run.h"

namespace lf::worker {

struct PackMember {
  std::string id;              // names the trial in errors and results
  Adapter* adapter = nullptr;  // plain LoRA on the pack's model; not owned
  jobs::TrainSpec spec;
  TrainerOptions options;
  PackedLoader* train = nullptr;             // not owned
  const std::vector<Batch>* eval = nullptr;  // not owned; null: no evaluation
};

struct PackResult {
  std::string id;
  Result<TrainResult> result;
};

class PackedTrainer {
 public:
  // Attaches the pack's hook to `model` until destroyed, which gives the model back its hook
  // from before.
  explicit PackedTrainer(CausalLm& model);

  // Joins at the next step: resumes from the trial's checkpoint (options.resume) and evaluates
  // its starting point. An adapter other than plain LoRA, or rows of another length than the
  // pack's, is refused naming the trial (such a trial trains alone).
  Status Add(PackMember member);
  // One step of the pack: a micro-batch of every member through one forward and backward pass;
  // a member whose step has all its micro-batches takes its optimizer step. Returns the members
  // that finished in this call (steps done, stopped, or failed), which have left the pack.
  std::vector<PackResult> Step();
  // Steps until every member has finished; the results in the order the members finished.
  std::vector<PackResult> Run();

  size_t size() const { return members_.size(); }
  std::vector<std::string> ids() const;

 private:
  struct Member {
    std::string id;
    std::unique_ptr<TrainingRun> run;
    int64_t micro = 0;      // micro-batches of the current step done
    torch::Tensor step_loss;  // the sum of their StepLoss values so far (undefined: none yet)
  };
  PackResult Leave(size_t index, Result<TrainResult> result);

  CausalLm& model_;
  LoraPack hook_;
  // Declared after hook_ so that it is destroyed first: the model never points at a gone hook.
  ScopedHook attached_;
  int64_t seq_len_ = 0;  // the pack's row length, from its first member
  std::vector<Member> members_;
};

}  // namespace lf::worker
