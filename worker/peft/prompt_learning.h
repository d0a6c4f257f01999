// PEFT's "prompt learning" methods for causal LMs, each in its own file: prompt tuning
// (prompt_tuning.cpp), P-tuning (p_tuning.cpp) and prefix tuning (prefix_tuning.cpp). They add
// virtual tokens through ModelHook::SoftPrompt (prompt and P-tuning: embeddings before the
// sequence) or ModelHook::KvPrefix (prefix tuning: keys and values in every layer) rather than
// changing any linear module, and export `prompt_embeddings` exactly as PEFT saves it: for P-tuning
// and projected prefixes the encoder's output, so a loaded folder is in PEFT's inference form (the
// embeddings used directly, no encoder). None of them can be merged into the base weights.
#pragma once

#include <string>

#include "worker/peft/adapter.h"

namespace lf::worker {

Result<std::unique_ptr<Adapter>> CreatePromptTuning(CausalLm& model,
                                                    const jobs::PromptTuningSpec& spec,
                                                    uint64_t seed);
Result<std::unique_ptr<Adapter>> CreatePTuning(CausalLm& model, const jobs::PTuningSpec& spec,
                                               uint64_t seed);
Result<std::unique_ptr<Adapter>> CreatePrefixTuning(CausalLm& model,
                                                    const jobs::PrefixTuningSpec& spec,
                                                    uint64_t seed);

// A PROMPT_TUNING, P_TUNING or PREFIX_TUNING adapter_config.json (`peft_type`) -> the adapter in
// inference form for `model` (not attached); its prompt_embeddings are loaded by LoadStateDict.
// Errors name the field (token_dim or num_layers that do not fit the model, unsupported settings).
Result<std::unique_ptr<Adapter>> CreatePromptLearningFromPeft(CausalLm& model,
                                                              const JsonField& config,
                                                              const std::string& peft_type);

namespace internal {

// The adapter_config.json fields the three methods share, as PEFT fills them in for the model.
Json PromptLearningPeftConfig(const ModelConfig& config, const std::string& peft_type,
                              int64_t num_virtual_tokens, int64_t token_dim,
                              const std::string& base_model_name_or_path);
// Loads the one tensor the three methods export, "prompt_embeddings", into `target`.
Status LoadPromptEmbeddings(const std::map<std::string, torch::Tensor>& tensors,
                            const std::string& source, torch::Tensor& target);
// Copies `tensors` into `live` (named tensors sharing storage with an adapter's trainable ones):
// the same names, each with the same shape, or an error naming `source` and the tensor.
Status CopyNamedTensors(const std::map<std::string, torch::Tensor>& tensors,
                        const std::map<std::string, torch::Tensor>& live, const std::string& source);
// MergeInto's answer for all three: virtual tokens have no place in the base weights.
Status NotMergeable(const std::string& method);
// P-tuning and prefix tuning in PEFT's inference form: prompt_embeddings (the encoder's output)
// are the trainable tensor itself, with no encoder; `spec` is kept for the config it exports.
// What a loaded P_TUNING or PREFIX_TUNING folder becomes.
Result<std::unique_ptr<Adapter>> PTuningInferenceForm(CausalLm& model, const jobs::PTuningSpec& spec);
Result<std::unique_ptr<Adapter>> PrefixTuningInferenceForm(CausalLm& model,
                                                           const jobs::PrefixTuningSpec& spec);
// nn.Linear's default initialisation (weight and bias U(-1/sqrt(in), 1/sqrt(in))), trainable.
std::pair<torch::Tensor, torch::Tensor> NewLinear(int64_t in, int64_t out,
                                                  const torch::TensorOptions& options);

}  // namespace internal
}  // namespace lf::worker
