// What the three prompt-learning methods share: PEFT's config fields, the prompt_embeddings
// tensor, and reading a PEFT folder back in inference form.
#include <cmath>

#include "worker/peft/prompt_learning.h"

namespace lf::worker {
namespace internal {

constexpr const char* kPromptEmbeddings = "prompt_embeddings";

Json PromptLearningPeftConfig(const ModelConfig& config, const std::string& peft_type,
                              int64_t num_virtual_tokens, int64_t token_dim,
                              const std::string& base) {
  // Prefix tuning addresses keys and values, so PEFT counts kv heads there (grouped-query
  // attention, PEFT #1901); the soft-prompt methods count the model's attention heads.
  const bool prefix = peft_type == "PREFIX_TUNING";
  return {{"auto_mapping", nullptr},
          {"base_model_name_or_path", base},
          {"inference_mode", true},
          {"modules_to_save", nullptr},
          {"num_attention_heads", prefix ? config.kv_heads : config.heads},
          {"num_layers", config.layers},
          {"num_transformer_submodules", 1},
          {"num_virtual_tokens", num_virtual_tokens},
          {"peft_type", peft_type},
          {"revision", nullptr},
          {"task_type", "CAUSAL_LM"},
          {"token_dim", token_dim}};
}

Status LoadPromptEmbeddings(const std::map<std::string, torch::Tensor>& tensors,
                            const std::string& source, torch::Tensor& target) {
  auto it = tensors.find(kPromptEmbeddings);
  if (it == tensors.end()) {
    return InvalidArgument(source + ": missing tensor '" + std::string(kPromptEmbeddings) + "'");
  }
  if (it->second.sizes() != target.sizes()) {
    return InvalidArgument(source + ": tensor 'prompt_embeddings' has shape " +
                           c10::str(it->second.sizes()) + ", expected " +
                           c10::str(target.sizes()) +
                           " (num_virtual_tokens x the width this model needs)");
  }
  for (const auto& [key, t] : tensors) {
    if (key != kPromptEmbeddings) {
      return InvalidArgument(source + ": tensor '" + key + "' is not part of a prompt-learning "
                             "adapter (only 'prompt_embeddings' is)");
    }
  }
  torch::NoGradGuard no_grad;
  target.copy_(it->second);
  return Status::Ok();
}

Status CopyNamedTensors(const std::map<std::string, torch::Tensor>& tensors,
                        const std::map<std::string, torch::Tensor>& live,
                        const std::string& source) {
  for (const auto& [key, t] : tensors) {
    if (!live.count(key)) {
      return InvalidArgument(source + ": tensor '" + key + "' is not part of this adapter");
    }
  }
  torch::NoGradGuard no_grad;
  for (const auto& [key, target] : live) {
    auto it = tensors.find(key);
    if (it == tensors.end()) return InvalidArgument(source + ": missing tensor '" + key + "'");
    if (it->second.sizes() != target.sizes()) {
      return InvalidArgument(source + ": tensor '" + key + "' has shape " +
                             c10::str(it->second.sizes()) + ", expected " +
                             c10::str(target.sizes()));
    }
    torch::Tensor(target).copy_(it->second);
  }
  return Status::Ok();
}

Status NotMergeable(const std::string& method) {
  return InvalidArgument(method + " adds virtual tokens in front of every sequence, which cannot "
                         "be folded into the base weights; load the adapter with the base instead "
                         "(lorafleet generate/eval --adapter, or PEFT's PeftModel.from_pretrained)");
}

std::pair<torch::Tensor, torch::Tensor> NewLinear(int64_t in, int64_t out,
                                                  const torch::TensorOptions& options) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  torch::Tensor w = torch::empty({out, in}, options), b = torch::empty({out}, options);
  {
    torch::NoGradGuard no_grad;
    w.uniform_(-bound, bound);
    b.uniform_(-bound, bound);
  }
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  return {w, b};
}

}  // namespace internal

namespace {

// The width of prompt_embeddings' rows each method needs for this model.
int64_t PrefixTokenDim(const ModelConfig& c) { return c.kv_heads * c.head_dim; }

}  // namespace

Result<std::unique_ptr<Adapter>> CreatePromptLearningFromPeft(CausalLm& model,
                                                              const JsonField& f,
                                                              const std::string& peft_type) {
  const ModelConfig& config = model.config();
  LF_ASSIGN_OR_RETURN(int64_t tokens, f.IntAt("num_virtual_tokens", {.min = 1}));
  LF_ASSIGN_OR_RETURN(int64_t submodules, f.IntOr("num_transformer_submodules", 1, {.min = 1}));
  if (submodules != 1) {
    return f.Required("num_transformer_submodules")
        ->Error("must be 1: a causal LM has one transformer stack (2 is for encoder-decoders)");
  }
  const bool prefix = peft_type == "PREFIX_TUNING";
  const int64_t want_dim = prefix ? PrefixTokenDim(config) : config.hidden;
  LF_ASSIGN_OR_RETURN(int64_t token_dim, f.IntAt("token_dim", {.min = 1}));
  if (token_dim != want_dim) {
    return f.Required("token_dim")
        ->Error("is " + std::to_string(token_dim) + " but this " + config.model_type +
                " model needs " + std::to_string(want_dim) + " (an adapter for another base?)");
  }
  if (auto layers = f.Optional("num_layers")) {
    LF_ASSIGN_OR_RETURN(int64_t n, layers->Int());
    if (n != config.layers) {
      return layers->Error("is " + std::to_string(n) + " but the model has " +
                           std::to_string(config.layers) + " layers");
    }
  }
  if (auto m = f.Optional("modules_to_save"); m && !m->json().empty()) {
    return m->Error("modules_to_save is not supported");
  }
  if (peft_type == "PROMPT_TUNING") {
    // The init fields only matter before training; a saved folder holds the trained prompt.
    return CreatePromptTuning(model, {.num_virtual_tokens = tokens, .init = "random"}, 0);
  }
  if (peft_type == "P_TUNING") {
    LF_ASSIGN_OR_RETURN(std::string type, f.StringOr("encoder_reparameterization_type", "MLP"));
    if (type != "MLP") {
      return f.Required("encoder_reparameterization_type")
          ->Error("only the MLP prompt encoder is supported, got \"" + type + "\"");
    }
    LF_ASSIGN_OR_RETURN(int64_t hidden, f.IntOr("encoder_hidden_size", config.hidden, {.min = 1}));
    return internal::PTuningInferenceForm(
        model, {.num_virtual_tokens = tokens, .encoder_hidden_size = hidden});
  }
  LF_ASSIGN_OR_RETURN(bool projection, f.BoolOr("prefix_projection", false));
  LF_ASSIGN_OR_RETURN(int64_t hidden, f.IntOr("encoder_hidden_size", want_dim, {.min = 1}));
  if (auto init = f.Optional("init_weights")) {
    return init->Error("is not supported by this version; leave it null");
  }
  return internal::PrefixTuningInferenceForm(model, {.num_virtual_tokens = tokens,
                                                     .prefix_projection = projection,
                                                     .encoder_hidden_size = hidden});
}

}  // namespace lf::worker
