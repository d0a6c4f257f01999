// LoraPack: the model hook of packed training. Several plain LoRA adapters (one per trial) sit on
// one frozen model; a forward pass's batch is the trials' micro-batches concatenated along the
// batch dimension, in member order, and each adapted linear module adds every trial's low-rank
// path to that trial's rows only, in one grouped matmul (kernels/grouped_lora.h), after the base
// matmul ran once over all rows. Trials may differ in rank, alpha, dropout and target modules.
// Used by one thread, like the model.
#pragma once

#include <vector>

#include "worker/model/causal_lm.h"
#include "worker/peft/adapter.h"

namespace lf::worker {

class LoraPack final : public ModelHook {
 public:
  // The adapters (plain LoRA on the model this hook is set on; not owned) and the batch rows of
  // each in the forward passes that follow, in the order their micro-batches are concatenated.
  void Set(std::vector<Adapter*> members, std::vector<int64_t> rows);

  torch::Tensor Apply(const LinearModule& module, const torch::Tensor& x,
                      torch::Tensor base) override;

 private:
  std::vector<Adapter*> members_;
  std::vector<int64_t> rows_;
};

}  // namespace lf::worker
