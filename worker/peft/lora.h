// LoRA (Hu et al. 2021) as Hugging Face PEFT implements it: for each targeted linear module,
// y = W x + b + (alpha / r) · B A dropout(x), A [r, in] Kaiming-uniform (a = sqrt(5)), B [out, r]
// zeros, so an untrained adapter leaves the model's output unchanged. rsLoRA scales by
// alpha / sqrt(r). Module matching follows PEFT: a listed name matches the full module name or
// its suffix after a dot.
#pragma once

#include <optional>

#include "worker/peft/adapter.h"

namespace lf::worker {

// PEFT's default target modules for an architecture ("c_attn" for GPT-2, q_proj and v_proj for
// the Llama family).
std::vector<std::string> DefaultLoraTargets(const ModelConfig& config);
// PEFT's rule: `module` equals a target or ends with "." + target.
bool MatchesTarget(const std::string& module, const std::vector<std::string>& targets);

Result<std::unique_ptr<Adapter>> CreateLora(CausalLm& model, const jobs::LoraSpec& spec,
                                            uint64_t seed);

// A plain LoRA adapter's change to one module, delta = scale · dropout(x) Aᵀ Bᵀ: what packed
// training (worker/peft/lora_pack.h) runs for several trials in one grouped matmul.
struct LoraPath {
  torch::Tensor a;  // [r, in], the trainable tensor itself
  torch::Tensor b;  // [out, r]
  double scale = 1;
  double dropout = 0;  // 0 unless the adapter is training
};
// Whether `adapter` is plain LoRA (rsLoRA included), whose change to every module is its LoraPath.
bool IsPlainLora(const Adapter& adapter);
// `adapter`'s path on `module`; nullopt when it does not adapt that module or is not plain LoRA.
std::optional<LoraPath> LoraPathOf(const Adapter& adapter, const std::string& module);

// Shared by the methods built on LoRA's settings (DoRA) and by IA³.
// The modules `targets` (and `layers`, empty: all) select, in file order. Errors name `field`
// ("job.dora"): a layer the model lacks, or no module matching.
Result<std::vector<LinearModule*>> SelectModules(CausalLm& model,
                                                 const std::vector<std::string>& targets,
                                                 const std::vector<int64_t>& layers,
                                                 const std::string& field);
// alpha / r, or alpha / sqrt(r) with rsLoRA.
double LoraScale(const jobs::LoraSpec& spec);
// adapter_config.json as PEFT's LoraConfig writes it; `use_dora` for DoRA.
Json LoraPeftConfig(const ModelConfig& config, const jobs::LoraSpec& spec,
                    const std::string& base_model_name_or_path, bool use_dora);

}  // namespace lf::worker
