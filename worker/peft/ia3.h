// IA³ (Liu et al. 2022) as Hugging Face PEFT implements it (IA3Config): one learned vector per
// targeted linear module, initialised to ones so an untrained adapter leaves the output
// unchanged. A feed-forward module scales its input, y = W (x ⊙ l) + b, l stored [1, in]; any
// other scales its output bias included, y = (W x + b) ⊙ l, l stored [out, 1] (PEFT's shapes, the
// same for GPT-2's Conv1D). Targets match as LoRA's do; feed-forward modules match by suffix
// (PEFT's `key.endswith`).
#pragma once

#include "worker/peft/adapter.h"

namespace lf::worker {

// PEFT's defaults: TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING and
// TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING for the model's model_type.
jobs::Ia3Spec DefaultIa3Modules(const ModelConfig& config);

// `resolve_defaults`: an empty list takes the architecture's default, as in a job; without it
// (importing a PEFT folder) the lists are taken as written, an empty feedforward_modules meaning
// none.
Result<std::unique_ptr<Adapter>> CreateIa3(CausalLm& model, const jobs::Ia3Spec& spec,
                                           bool resolve_defaults = true);

}  // namespace lf::worker
