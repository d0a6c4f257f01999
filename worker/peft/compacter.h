// Compacter (Mahabadi et al. 2021): bottleneck adapters (bottleneck.h) whose down and up
// projections are parameterised hypercomplex multiplications, W = Σ_i A_i ⊗ (s_i t_i): the
// phm_dim "rule" matrices A_i (phm_dim x phm_dim) are shared by every adapter of the model, and
// each B_i = s_i t_i is a product of rank phm_rank factors (Compacter++'s low-rank PHM). The up
// projection starts at zero, so an untrained adapter leaves the output unchanged. Folder format
// (peft_type "COMPACTER") in docs/formats/adapters.md.
#pragma once

#include "worker/peft/adapter.h"

namespace lf::worker {

// Errors name job.compacter: a hidden size or bottleneck size that phm_dim does not divide.
Result<std::unique_ptr<Adapter>> CreateCompacter(CausalLm& model, const jobs::CompacterSpec& spec,
                                                 uint64_t seed);

// adapter_config.json of a COMPACTER folder -> its settings; errors name the field.
Result<jobs::CompacterSpec> CompacterSpecFromConfig(const JsonField& config);

}  // namespace lf::worker
