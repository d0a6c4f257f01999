#include "worker/model/model_config.h"

#include <filesystem>

#include "common/file_util.h"

namespace lf::worker {
namespace {

Status ParseGpt2(const JsonField& f, ModelConfig* c) {
  c->arch = Architecture::kGpt2;
  LF_ASSIGN_OR_RETURN(c->vocab_size, f.IntAt("vocab_size", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->hidden, f.IntAt("n_embd", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->layers, f.IntAt("n_layer", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->heads, f.IntAt("n_head", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->max_positions, f.IntOr("n_positions", 1024, {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->intermediate, f.IntOr("n_inner", 4 * c->hidden, {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->norm_eps, f.NumberOr("layer_norm_epsilon", 1e-5, {.min = 0}));
  LF_ASSIGN_OR_RETURN(c->tie_word_embeddings, f.BoolOr("tie_word_embeddings", true));
  LF_ASSIGN_OR_RETURN(std::string act, f.StringOr("activation_function", "gelu_new"));
  if (act != "gelu_new" && act != "gelu_pytorch_tanh") {
    return f.Required("activation_function")
        ->Error("activation \"" + act + "\" is not supported; GPT-2 models use gelu_new");
  }
  if (!c->tie_word_embeddings) {
    return f.Required("tie_word_embeddings")
        ->Error("GPT-2 models with an untied lm_head are not supported");
  }
  c->kv_heads = c->heads;
  c->qkv_bias = true;
  if (c->hidden % c->heads != 0) {
    return f.Required("n_embd")->Error("n_embd (" + std::to_string(c->hidden) +
                                       ") must be divisible by n_head (" +
                                       std::to_string(c->heads) + ")");
  }
  c->head_dim = c->hidden / c->heads;
  return Status::Ok();
}

Status ParseLlama(const JsonField& f, ModelConfig* c) {
  c->arch = Architecture::kLlama;
  LF_ASSIGN_OR_RETURN(c->vocab_size, f.IntAt("vocab_size", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->hidden, f.IntAt("hidden_size", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->layers, f.IntAt("num_hidden_layers", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->heads, f.IntAt("num_attention_heads", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->kv_heads, f.IntOr("num_key_value_heads", c->heads, {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->intermediate, f.IntAt("intermediate_size", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->max_positions, f.IntOr("max_position_embeddings", 2048, {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->norm_eps, f.NumberOr("rms_norm_eps", 1e-6, {.min = 0}));
  LF_ASSIGN_OR_RETURN(c->tie_word_embeddings, f.BoolOr("tie_word_embeddings", false));
  LF_ASSIGN_OR_RETURN(c->qkv_bias, f.BoolOr("attention_bias", c->model_type == "qwen2"));
  // rope_theta sits at the top level in most configs, in rope_parameters in newer ones.
  if (auto params = f.Optional("rope_parameters")) {
    LF_ASSIGN_OR_RETURN(c->rope_theta, params->NumberOr("rope_theta", 10000.0, {.min = 0, .exclusive_min = true}));
    if (auto type = params->Optional("rope_type")) {
      LF_ASSIGN_OR_RETURN(std::string t, type->String());
      if (t != "default") return type->Error("rope type \"" + t + "\" is not supported");
    }
  } else {
    LF_ASSIGN_OR_RETURN(c->rope_theta, f.NumberOr("rope_theta", 10000.0, {.min = 0, .exclusive_min = true}));
  }
  if (auto scaling = f.Optional("rope_scaling")) {
    return scaling->Error("rope scaling is not supported (only plain rotary embeddings)");
  }
  LF_ASSIGN_OR_RETURN(std::string act, f.StringOr("hidden_act", "silu"));
  if (act != "silu") {
    return f.Required("hidden_act")->Error("activation \"" + act + "\" is not supported; "
                                           "Llama-family models use silu");
  }
  if (c->heads % c->kv_heads != 0) {
    return f.Required("num_key_value_heads")
        ->Error("num_attention_heads (" + std::to_string(c->heads) +
                ") must be a multiple of num_key_value_heads (" + std::to_string(c->kv_heads) + ")");
  }
  LF_ASSIGN_OR_RETURN(c->head_dim, f.IntOr("head_dim", c->hidden / c->heads, {.min = 2}));
  if (c->head_dim % 2 != 0) return f.Error("head_dim must be even for rotary embeddings");
  return Status::Ok();
}

}  // namespace

ModelConfig Gpt2Config(int64_t vocab_size, int64_t max_positions, int64_t hidden, int64_t layers,
                       int64_t heads) {
  ModelConfig c;
  c.arch = Architecture::kGpt2;
  c.model_type = "gpt2";
  c.vocab_size = vocab_size;
  c.max_positions = max_positions;
  c.hidden = hidden;
  c.layers = layers;
  c.heads = c.kv_heads = heads;
  c.head_dim = hidden / heads;
  c.intermediate = 4 * hidden;
  c.qkv_bias = true;
  return c;
}

int64_t ModelConfig::NumParameters() const {
  const int64_t q = heads * head_dim, kv = kv_heads * head_dim;
  int64_t per_layer = 0;
  int64_t total = vocab_size * hidden;  // embeddings
  if (arch == Architecture::kGpt2) {
    per_layer = 4 * hidden                                  // two layer norms
                + hidden * 3 * hidden + 3 * hidden          // c_attn
                + hidden * hidden + hidden                  // attn.c_proj
                + hidden * intermediate + intermediate      // c_fc
                + intermediate * hidden + hidden;           // mlp.c_proj
    total += max_positions * hidden + 2 * hidden;           // wpe, ln_f
  } else {
    per_layer = 2 * hidden + hidden * (q + 2 * kv) + (qkv_bias ? q + 2 * kv : 0) + q * hidden +
                3 * hidden * intermediate;
    total += hidden;  // final norm
    if (!tie_word_embeddings) total += vocab_size * hidden;
  }
  return total + layers * per_layer;
}

Result<ModelConfig> ParseModelConfig(const Json& doc, const std::string& source) {
  JsonField f(doc, FieldPath());
  if (!doc.is_object()) return InvalidArgument(source + ": expected a JSON object");
  ModelConfig c;
  Status st = [&]() -> Status {
    LF_ASSIGN_OR_RETURN(c.model_type, f.StringAt("model_type"));
    LF_ASSIGN_OR_RETURN(c.torch_dtype, f.StringOr("torch_dtype", "float32"));
    if (c.model_type == "gpt2") return ParseGpt2(f, &c);
    if (c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2") {
      if (c.model_type == "mistral") {
        if (auto window = f.Optional("sliding_window")) {
          LF_ASSIGN_OR_RETURN(int64_t w, window->Int());
          (void)w;  // sequences we train are far shorter than Mistral's 4096-token window
        }
      }
      return ParseLlama(f, &c);
    }
    return f.Required("model_type")
        ->Error("architecture \"" + c.model_type +
                "\" is not supported; supported: gpt2, llama, mistral, qwen2");
  }();
  if (!st.ok()) return st.WithContext(source);
  return c;
}

Result<ModelConfig> ReadModelConfig(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  if (!std::filesystem::is_directory(model_dir)) {
    return NotFound("base model folder " + model_dir + " does not exist");
  }
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  LF_ASSIGN_OR_RETURN(Json doc, ParseJson(text, path));
  return ParseModelConfig(doc, path);
}

Json ModelConfigToJson(const ModelConfig& c) {
  if (c.arch == Architecture::kGpt2) {
    return {{"architectures", {"GPT2LMHeadModel"}},
            {"model_type", "gpt2"},
            {"vocab_size", c.vocab_size},
            {"n_positions", c.max_positions},
            {"n_embd", c.hidden},
            {"n_layer", c.layers},
            {"n_head", c.heads},
            {"n_inner", c.intermediate},
            {"activation_function", "gelu_new"},
            {"resid_pdrop", 0.0},
            {"embd_pdrop", 0.0},
            {"attn_pdrop", 0.0},
            {"layer_norm_epsilon", c.norm_eps},
            {"initializer_range", 0.02},
            {"tie_word_embeddings", true},
            {"bos_token_id", c.vocab_size - 1},
            {"eos_token_id", c.vocab_size - 1},
            {"torch_dtype", c.torch_dtype}};
  }
  return {{"architectures", {c.model_type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
          {"model_type", c.model_type},
          {"vocab_size", c.vocab_size},
          {"hidden_size", c.hidden},
          {"intermediate_size", c.intermediate},
          {"num_hidden_layers", c.layers},
          {"num_attention_heads", c.heads},
          {"num_key_value_heads", c.kv_heads},
          {"head_dim", c.head_dim},
          {"max_position_embeddings", c.max_positions},
          {"rms_norm_eps", c.norm_eps},
          {"rope_theta", c.rope_theta},
          {"hidden_act", "silu"},
          {"attention_bias", c.qkv_bias},
          {"tie_word_embeddings", c.tie_word_embeddings},
          {"torch_dtype", c.torch_dtype}};
}

}  // namespace lf::worker
