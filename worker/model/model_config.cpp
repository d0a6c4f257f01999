#include "worker/model/model_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iterator>

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

constexpr const char* kDecoderTypes[] = {"llama", "mistral", "qwen2",      "qwen3",
                                         "phi3",  "gemma2",  "gemma3_text"};

constexpr std::pair<RopeType, const char*> kRopeTypes[] = {
    {RopeType::kDefault, "default"}, {RopeType::kLinear, "linear"},
    {RopeType::kDynamic, "dynamic"}, {RopeType::kYarn, "yarn"},
    {RopeType::kLlama3, "llama3"},   {RopeType::kLongrope, "longrope"}};

// A field transformers defaults when absent but reads null as "none" (0 here).
Result<int64_t> IntOrNone(const JsonField& f, std::string_view key, int64_t fallback) {
  if (!f.Has(key)) return fallback;
  return f.IntOr(key, 0, {.min = 1});
}
Result<double> NumberOrNone(const JsonField& f, std::string_view key, double fallback) {
  if (!f.Has(key)) return fallback;
  return f.NumberOr(key, 0, {.min = 0});
}
Result<double> RequiredNumber(const JsonField& f, std::string_view key, NumberBounds bounds) {
  LF_ASSIGN_OR_RETURN(JsonField v, f.Required(key));
  return v.Number(bounds);
}

double YarnMscale(double scale, double m) {
  return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
}

// One rotary configuration: `params` is rope_parameters (transformers 5), rope_scaling
// (transformers 4) or one layer type's entry; `theta` applies when it names none.
Result<RopeParams> ParseRope(const JsonField& root, const std::optional<JsonField>& params,
                             double theta, int64_t max_positions) {
  RopeParams r;
  r.theta = theta;
  r.original_max_positions = max_positions;
  if (!params) return r;
  if (!params->IsObject()) return params->Error("expected an object");
  LF_ASSIGN_OR_RETURN(r.theta,
                      params->NumberOr("rope_theta", theta, {.min = 0, .exclusive_min = true}));
  std::optional<JsonField> type = params->Optional("rope_type");
  if (!type) type = params->Optional("type");
  if (!type) return r;
  LF_ASSIGN_OR_RETURN(std::string name, type->String());
  // Phi-3 configs from before transformers named it: "su" and "yarn" both mean longrope there.
  if (root.Has("model_type") && root.json()["model_type"] == "phi3" &&
      (name == "su" || name == "yarn")) {
    name = "longrope";
  }
  auto known = std::find_if(std::begin(kRopeTypes), std::end(kRopeTypes),
                            [&](const auto& t) { return name == t.second; });
  if (known == std::end(kRopeTypes)) {
    return type->Error(
        "\"" + name +
        "\" is not supported; supported: default, linear, dynamic, yarn, llama3, longrope");
  }
  r.type = known->first;
  if (r.type == RopeType::kDefault) return r;
  // Phi-3 keeps the pretraining length at the top level, and transformers prefers it there.
  if (auto top = root.Optional("original_max_position_embeddings")) {
    LF_ASSIGN_OR_RETURN(r.original_max_positions, top->Int({.min = 1}));
  } else {
    LF_ASSIGN_OR_RETURN(r.original_max_positions, params->IntOr("original_max_position_embeddings",
                                                                max_positions, {.min = 1}));
  }
  if (r.type == RopeType::kYarn) {
    if (params->Optional("factor")) {
      LF_ASSIGN_OR_RETURN(r.factor, RequiredNumber(*params, "factor", {.min = 1}));
    } else {
      r.factor = static_cast<double>(max_positions) / static_cast<double>(r.original_max_positions);
    }
    LF_ASSIGN_OR_RETURN(double mscale, params->NumberOr("mscale", 0, {.min = 0}));
    LF_ASSIGN_OR_RETURN(double mscale_all_dim, params->NumberOr("mscale_all_dim", 0, {.min = 0}));
    const double inferred =
        mscale > 0 && mscale_all_dim > 0
            ? YarnMscale(r.factor, mscale) / YarnMscale(r.factor, mscale_all_dim)
            : YarnMscale(r.factor, 1.0);
    LF_ASSIGN_OR_RETURN(r.attention_factor,
                        params->NumberOr("attention_factor", inferred, {.min = 0}));
    // transformers takes `beta_fast or 32`: 0 means the default too.
    LF_ASSIGN_OR_RETURN(r.beta_fast, params->NumberOr("beta_fast", 32, {.min = 0}));
    LF_ASSIGN_OR_RETURN(r.beta_slow, params->NumberOr("beta_slow", 1, {.min = 0}));
    if (r.beta_fast == 0) r.beta_fast = 32;
    if (r.beta_slow == 0) r.beta_slow = 1;
    LF_ASSIGN_OR_RETURN(r.truncate, params->BoolOr("truncate", true));
    return r;
  }
  if (r.type == RopeType::kLongrope) {
    const double ratio =
        static_cast<double>(max_positions) / static_cast<double>(r.original_max_positions);
    LF_ASSIGN_OR_RETURN(r.factor,
                        params->NumberOr("factor", ratio, {.min = 0, .exclusive_min = true}));
    const double inferred =
        r.factor <= 1.0
            ? 1.0
            : std::sqrt(1 + std::log(r.factor) /
                                std::log(static_cast<double>(r.original_max_positions)));
    LF_ASSIGN_OR_RETURN(r.attention_factor,
                        params->NumberOr("attention_factor", inferred, {.min = 0}));
    for (auto [key, out] :
         {std::pair{"short_factor", &r.short_factor}, std::pair{"long_factor", &r.long_factor}}) {
      LF_ASSIGN_OR_RETURN(JsonField list, params->Required(key));
      LF_ASSIGN_OR_RETURN(std::vector<JsonField> items, list.Elements());
      for (const JsonField& item : items) {
        LF_ASSIGN_OR_RETURN(double v, item.Number({.min = 0, .exclusive_min = true}));
        out->push_back(v);
      }
    }
    return r;
  }
  LF_ASSIGN_OR_RETURN(r.factor, RequiredNumber(*params, "factor", {.min = 1}));
  if (r.type == RopeType::kLlama3) {
    LF_ASSIGN_OR_RETURN(r.low_freq_factor, RequiredNumber(*params, "low_freq_factor",
                                                          {.min = 0, .exclusive_min = true}));
    LF_ASSIGN_OR_RETURN(r.high_freq_factor,
                        RequiredNumber(*params, "high_freq_factor",
                                       {.min = r.low_freq_factor, .exclusive_min = true}));
  }
  return r;
}

// layer_types as transformers 5 writes it: which layers use the sliding window.
Result<std::vector<bool>> ParseLayerTypes(const JsonField& f, int64_t layers) {
  LF_ASSIGN_OR_RETURN(JsonField list, f.Required("layer_types"));
  LF_ASSIGN_OR_RETURN(std::vector<JsonField> items, list.Elements());
  if (static_cast<int64_t>(items.size()) != layers) {
    return list.Error("has " + std::to_string(items.size()) + " entries but num_hidden_layers is " +
                      std::to_string(layers));
  }
  std::vector<bool> sliding;
  for (const JsonField& item : items) {
    LF_ASSIGN_OR_RETURN(std::string t, item.String());
    if (t != "sliding_attention" && t != "full_attention") {
      return item.Error("\"" + t +
                        "\" is not supported; supported: full_attention, sliding_attention");
    }
    sliding.push_back(t == "sliding_attention");
  }
  return sliding;
}

// Which layers slide, and the window, per model type as its transformers config class decides.
Status ParseSlidingWindow(const JsonField& f, ModelConfig* c) {
  const std::string& type = c->model_type;
  if (type == "mistral") {
    LF_ASSIGN_OR_RETURN(c->sliding_window, IntOrNone(f, "sliding_window", 4096));
  } else if (type == "phi3") {
    LF_ASSIGN_OR_RETURN(c->sliding_window, IntOrNone(f, "sliding_window", 0));
  } else if (type == "qwen2" || type == "qwen3") {
    LF_ASSIGN_OR_RETURN(bool use, f.BoolOr("use_sliding_window", false));
    if (!use) return Status::Ok();
    LF_ASSIGN_OR_RETURN(c->sliding_window, IntOrNone(f, "sliding_window", 4096));
    if (f.Optional("layer_types")) {
      LF_ASSIGN_OR_RETURN(c->sliding_layers, ParseLayerTypes(f, c->layers));
    } else {
      LF_ASSIGN_OR_RETURN(int64_t first, f.IntOr("max_window_layers", 28, {.min = 0}));
      for (int64_t i = 0; i < c->layers; ++i) c->sliding_layers.push_back(i >= first);
    }
  } else if (c->arch == Architecture::kGemma) {
    LF_ASSIGN_OR_RETURN(c->sliding_window, IntOrNone(f, "sliding_window", 4096));
    if (f.Optional("layer_types")) {
      LF_ASSIGN_OR_RETURN(c->sliding_layers, ParseLayerTypes(f, c->layers));
    } else {  // Gemma 2 alternates from layer 0; Gemma 3 has one global layer in every `pattern`
      LF_ASSIGN_OR_RETURN(int64_t pattern, type == "gemma2"
                                               ? Result<int64_t>(2)
                                               : f.IntOr("sliding_window_pattern", 6, {.min = 1}));
      for (int64_t i = 0; i < c->layers; ++i) c->sliding_layers.push_back((i + 1) % pattern != 0);
    }
  }
  return Status::Ok();
}

Status ParseRotary(const JsonField& f, ModelConfig* c) {
  std::optional<JsonField> params = f.Optional("rope_parameters");
  if (!params) params = f.Optional("rope_scaling");
  if (c->model_type == "gemma3_text") {
    // Global layers: rope_theta (1e6) with any scaling; local: rope_local_base_freq (1e4),
    // unscaled. transformers 5 nests both under rope_parameters by layer type.
    LF_ASSIGN_OR_RETURN(double theta,
                        f.NumberOr("rope_theta", 1e6, {.min = 0, .exclusive_min = true}));
    LF_ASSIGN_OR_RETURN(double local_theta,
                        f.NumberOr("rope_local_base_freq", 1e4, {.min = 0, .exclusive_min = true}));
    if (params && (params->Has("full_attention") || params->Has("sliding_attention"))) {
      LF_ASSIGN_OR_RETURN(
          c->rope, ParseRope(f, params->Optional("full_attention"), theta, c->max_positions));
      LF_ASSIGN_OR_RETURN(c->rope_local, ParseRope(f, params->Optional("sliding_attention"),
                                                   local_theta, c->max_positions));
    } else {
      LF_ASSIGN_OR_RETURN(c->rope, ParseRope(f, params, theta, c->max_positions));
      c->rope_local.theta = local_theta;
    }
  } else {
    LF_ASSIGN_OR_RETURN(double theta,
                        f.NumberOr("rope_theta", 10000.0, {.min = 0, .exclusive_min = true}));
    LF_ASSIGN_OR_RETURN(c->rope, ParseRope(f, params, theta, c->max_positions));
  }
  c->rope_theta = c->rope.theta;
  // partial_rotary_factor sits at the top level, or in rope_parameters in transformers 5.
  const JsonField& holder = params && params->Has("partial_rotary_factor") ? *params : f;
  LF_ASSIGN_OR_RETURN(
      c->partial_rotary_factor,
      holder.NumberOr("partial_rotary_factor", 1.0, {.min = 0, .max = 1, .exclusive_min = true}));
  const auto rotary_dim =
      static_cast<int64_t>(static_cast<double>(c->head_dim) * c->partial_rotary_factor);
  if (rotary_dim < 2 || rotary_dim % 2 != 0) {
    return f.Error("head_dim * partial_rotary_factor (" + std::to_string(rotary_dim) +
                   ") must be even and at least 2 for rotary embeddings");
  }
  if (c->rope.type == RopeType::kLongrope) {  // one divisor per rotary frequency
    for (const auto& [key, factors] : {std::pair{"short_factor", &c->rope.short_factor},
                                       std::pair{"long_factor", &c->rope.long_factor}}) {
      if (static_cast<int64_t>(factors->size()) != rotary_dim / 2) {
        return params->Required(key)->Error(
            "has " + std::to_string(factors->size()) + " entries; this model rotates " +
            std::to_string(rotary_dim) + " dimensions, so it needs " +
            std::to_string(rotary_dim / 2));
      }
    }
  }
  return Status::Ok();
}

// Llama, Mistral, Qwen2, Qwen3, Phi-3, Gemma 2 and Gemma 3 text.
Status ParseDecoder(const JsonField& f, ModelConfig* c) {
  const std::string& type = c->model_type;
  const bool gemma = type == "gemma2" || type == "gemma3_text";
  c->arch = gemma ? Architecture::kGemma : Architecture::kLlama;
  LF_ASSIGN_OR_RETURN(c->vocab_size, f.IntAt("vocab_size", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->hidden, f.IntAt("hidden_size", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->layers, f.IntAt("num_hidden_layers", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->heads, f.IntAt("num_attention_heads", {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->kv_heads, f.IntOr("num_key_value_heads", c->heads, {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->intermediate, f.IntAt("intermediate_size", {.min = 1}));
  const int64_t default_positions = type == "gemma2" ? 8192 : type == "gemma3_text" ? 131072 : 2048;
  LF_ASSIGN_OR_RETURN(c->max_positions,
                      f.IntOr("max_position_embeddings", default_positions, {.min = 1}));
  LF_ASSIGN_OR_RETURN(c->norm_eps, f.NumberOr("rms_norm_eps", 1e-6, {.min = 0}));
  LF_ASSIGN_OR_RETURN(c->tie_word_embeddings, f.BoolOr("tie_word_embeddings", gemma));
  if (type == "qwen2") {  // transformers gives Qwen2 q/k/v biases whatever attention_bias says
    c->qkv_bias = true;
  } else if (type != "mistral" && type != "phi3") {
    LF_ASSIGN_OR_RETURN(c->qkv_bias, f.BoolOr("attention_bias", false));
    c->o_bias = c->qkv_bias;
  }
  c->qk_norm = type == "qwen3" || type == "gemma3_text";
  c->fused_projections = type == "phi3";
  const std::string act_key = gemma && !f.Has("hidden_activation") && f.Has("hidden_act")
                                  ? "hidden_act"
                                  : (gemma ? "hidden_activation" : "hidden_act");
  const std::string want_act = gemma ? "gelu_pytorch_tanh" : "silu";
  LF_ASSIGN_OR_RETURN(std::string act, f.StringOr(act_key, want_act));
  if (act != want_act) {
    return f.Required(act_key)->Error("activation \"" + act + "\" is not supported; " + type +
                                      " models use " + want_act);
  }
  if (c->heads % c->kv_heads != 0) {
    return f.Required("num_key_value_heads")
        ->Error("num_attention_heads (" + std::to_string(c->heads) +
                ") must be a multiple of num_key_value_heads (" + std::to_string(c->kv_heads) + ")");
  }
  // Without head_dim, transformers' config classes give Qwen3 128, Gemma 256, others hidden /
  // heads.
  const int64_t default_head_dim = type == "qwen3" ? 128 : gemma ? 256 : c->hidden / c->heads;
  LF_ASSIGN_OR_RETURN(c->head_dim, f.IntOr("head_dim", default_head_dim, {.min = 2}));
  LF_RETURN_IF_ERROR(ParseRotary(f, c));
  LF_RETURN_IF_ERROR(ParseSlidingWindow(f, c));
  if (gemma) {
    if (auto bidirectional = f.Optional("use_bidirectional_attention")) {
      LF_ASSIGN_OR_RETURN(bool on, bidirectional->Bool());
      if (on)
        return bidirectional->Error("bidirectional (encoder) Gemma models are not causal LMs");
    }
    LF_ASSIGN_OR_RETURN(c->query_pre_attn_scalar, f.NumberOr("query_pre_attn_scalar", 256,
                                                             {.min = 0, .exclusive_min = true}));
    // Gemma 3's attention ignores attn_logit_softcapping; Gemma 2 caps at 50 unless null.
    if (type == "gemma2") {
      LF_ASSIGN_OR_RETURN(c->attn_softcap, NumberOrNone(f, "attn_logit_softcapping", 50.0));
    }
    LF_ASSIGN_OR_RETURN(c->final_softcap,
                        NumberOrNone(f, "final_logit_softcapping", type == "gemma2" ? 30.0 : 0.0));
  }
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

const char* RopeTypeName(RopeType type) {
  for (const auto& [t, name] : kRopeTypes) {
    if (t == type) return name;
  }
  return "unknown";
}

Result<ModelConfig> ParseModelConfig(const Json& doc, const std::string& source) {
  JsonField f(doc, FieldPath());
  if (!doc.is_object()) return InvalidArgument(source + ": expected a JSON object");
  ModelConfig c;
  Status st = [&]() -> Status {
    LF_ASSIGN_OR_RETURN(c.model_type, f.StringAt("model_type"));
    LF_ASSIGN_OR_RETURN(c.torch_dtype, f.StringOr("torch_dtype", "float32"));
    if (!f.Optional("torch_dtype")) {  // transformers 5 names it dtype
      LF_ASSIGN_OR_RETURN(c.torch_dtype, f.StringOr("dtype", "float32"));
    }
    if (c.model_type == "gpt2") return ParseGpt2(f, &c);
    for (const char* type : kDecoderTypes) {
      if (c.model_type == type) return ParseDecoder(f, &c);
    }
    return f.Required("model_type")
        ->Error("architecture \"" + c.model_type +
                "\" is not supported; supported: gpt2, llama, "
                "mistral, qwen2, qwen3, phi3, gemma2, gemma3_text");
  }();
  if (!st.ok()) return st.WithContext(source);
  c.source = doc;
  return c;
}

Result<ModelConfig> ReadModelConfig(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  if (!std::filesystem::is_directory(model_dir)) {
    return NotFound("base model folder " + model_dir + " does not exist");
  }
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, kMaxSettingsFileBytes));
  LF_ASSIGN_OR_RETURN(Json doc, ParseJson(text, path));
  return ParseModelConfig(doc, path);
}

Json ModelConfigToJson(const ModelConfig& c) {
  if (!c.source.is_null()) {  // transformers 5 writes "dtype", 4.x "torch_dtype"
    Json doc = c.source;
    if (doc.contains("dtype")) doc["dtype"] = c.torch_dtype;
    if (doc.contains("torch_dtype") || !doc.contains("dtype")) doc["torch_dtype"] = c.torch_dtype;
    return doc;
  }
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
  // Configurations built in code are Llama or Qwen2 (tests, pretraining from scratch).
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
