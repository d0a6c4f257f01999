// A parameter-efficient adapter attached to a frozen CausalLm: the one interface every method
// implements (LoRA, DoRA, IA³, QLoRA, prompt, P- and prefix tuning, bottleneck adapters,
// Compacter, BitFit), so the trainer, export and merge do not care which method it is. Adapters
// change the model through ModelHook; they own their trainable tensors. The factories below do not
// attach what they make: the caller attaches an adapter with a ScopedHook declared after it, for
// as long as it trains, evaluates or generates with it. Used by one thread at a time, like the
// model they are attached to.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/json_reader.h"
#include "common/status.h"
#include "jobs/job_spec.h"
#include "worker/model/causal_lm.h"

namespace lf::worker {

class Adapter : public ModelHook {
 public:
  virtual jobs::Method method() const = 0;
  virtual std::vector<torch::Tensor> Parameters() = 0;  // the trainable tensors
  int64_t NumTrainable();
  // Dropout on the adapter path is active only while training.
  virtual void SetTraining(bool training) = 0;

  // Tensors under the keys of the Hugging Face PEFT format, and back (checkpoints, import).
  virtual std::map<std::string, torch::Tensor> StateDict() const = 0;
  virtual Status LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                               const std::string& source) = 0;
  // What a checkpoint keeps to resume training: the exported tensors, unless the method trains
  // through an encoder whose output is what it exports (P-tuning, prefix tuning with projection).
  virtual std::map<std::string, torch::Tensor> TrainingState() const { return StateDict(); }
  virtual Status LoadTrainingState(const std::map<std::string, torch::Tensor>& tensors,
                                   const std::string& source) {
    return LoadStateDict(tensors, source);
  }
  // adapter_config.json as PEFT writes it.
  virtual Json PeftConfig(const std::string& base_model_name_or_path) const = 0;
  // Folds the adapter into the base weights (the model then computes the same without it); an
  // error for methods that cannot be folded (prompts, prefixes, bottleneck adapters).
  virtual Status MergeInto(CausalLm& model) const = 0;
};

// Creates the adapter the job names for `model` (not attached: see above), initialised from
// `seed`. Errors name the job field (e.g. a target module the model does not have).
Result<std::unique_ptr<Adapter>> CreateAdapter(CausalLm& model, const jobs::JobSpec& job,
                                               uint64_t seed);

// Writes adapter_config.json and adapter_model.safetensors exactly as PEFT's save_pretrained.
Status SaveAdapter(const Adapter& adapter, const std::string& dir,
                   const std::string& base_model_name_or_path);
// Reads a PEFT adapter folder (ours or one PEFT wrote) as an adapter for `model` (not attached).
Result<std::unique_ptr<Adapter>> LoadAdapter(CausalLm& model, const std::string& dir);

}  // namespace lf::worker
