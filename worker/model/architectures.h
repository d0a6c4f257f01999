// Internal to worker/model: what each architecture's checkpoint holds, and building a model from
// validated weights. The loader checks files against ExpectedTensors before anything is built.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "worker/model/causal_lm.h"

namespace lf::worker::internal {

enum class Init { kNormal, kResidualNormal, kZeros, kOnes };

// A tensor as a Hugging Face checkpoint names and shapes it.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  Init init = Init::kNormal;
};

std::vector<TensorSpec> ExpectedTensors(const ModelConfig& config);
// Maps a name found in a file to the canonical one ("h.0.ln_1.weight" ->
// "transformer.h.0.ln_1.weight"); empty for tensors that are skipped on purpose (GPT-2's causal
// mask buffers, a tied lm_head, rotary inverse frequencies).
std::string CanonicalName(const ModelConfig& config, const std::string& name);

// `weights` holds every ExpectedTensors name with the checked shape, in the compute dtype.
std::unique_ptr<CausalLm> BuildGpt2(const ModelConfig& config,
                                    std::map<std::string, torch::Tensor> weights);
std::unique_ptr<CausalLm> BuildLlama(const ModelConfig& config,
                                     std::map<std::string, torch::Tensor> weights);

// Takes `name` out of `weights` (it must be there: the loader checked).
torch::Tensor Take(std::map<std::string, torch::Tensor>& weights, const std::string& name);
// A LinearModule from a checkpoint's weight (and bias, when `bias` is true).
LinearModule MakeLinear(std::map<std::string, torch::Tensor>& weights, const std::string& module,
                        int64_t layer, bool bias, bool stored_transposed);
// The weight of `m` in its checkpoint layout.
torch::Tensor StoredWeight(const LinearModule& m);

}  // namespace lf::worker::internal
