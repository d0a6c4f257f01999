// BitFit (Ben Zaken et al. 2022): only the bias terms of the base model train — every linear
// (GPT-2's Conv1D included) and LayerNorm bias — and every other weight stays frozen. The
// adapter holds the model's own bias tensors, so training it changes the model in place; its
// export is the biases under their state-dict names (docs/formats/adapters.md, peft_type BITFIT:
// PEFT has no BitFit). Models whose layers have no biases (the Llama family) cannot use it.
#pragma once

#include "worker/peft/adapter.h"

namespace lf::worker {

// Every bias of `model` (StateDict names ending ".bias"), or `bias_names` only when given (an
// imported adapter). A model without biases, or a name it does not have, is an error naming
// `model_name` (the base model folder).
Result<std::unique_ptr<Adapter>> CreateBitfit(CausalLm& model, const std::string& model_name,
                                              const std::vector<std::string>& bias_names = {});

}  // namespace lf::worker
