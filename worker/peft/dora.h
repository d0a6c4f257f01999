// DoRA (Liu et al. 2024), weight-decomposed LoRA, as Hugging Face PEFT implements it (LoraConfig
// with use_dora=True): W' = m · (W + s·B·A) / ||W + s·B·A||, the norm per output row and treated
// as a constant (no gradient), m [out] initialised to ||W|| so an untrained adapter (B = 0)
// leaves the output unchanged. Settings, scaling, targets and initialisation of A and B are
// LoRA's (worker/peft/lora.h); a bias is not rescaled.
#pragma once

#include "worker/peft/adapter.h"

namespace lf::worker {

Result<std::unique_ptr<Adapter>> CreateDora(CausalLm& model, const jobs::LoraSpec& spec,
                                            uint64_t seed);

}  // namespace lf::worker
