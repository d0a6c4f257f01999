// The architecture of a base model, read from a Hugging Face config.json. Three families: GPT-2;
// the Llama family (Llama, Mistral, Qwen2, Qwen3, Phi-3: RMSNorm, rotary embeddings,
// grouped-query attention, gated SiLU MLP); Gemma 2 and Gemma 3 text (the Llama layout plus
// (1 + w) norms around both sublayers, GeGLU, soft-capping and alternating sliding windows).
// Torch-free; values, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf::worker {

enum class Architecture { kGpt2, kLlama, kGemma };

// Rotary position scaling as transformers' ROPE_INIT_FUNCTIONS compute it.
enum class RopeType { kDefault, kLinear, kDynamic, kYarn, kLlama3, kLongrope };
const char* RopeTypeName(RopeType type);

struct RopeParams {
  RopeType type = RopeType::kDefault;
  double theta = 10000.0;
  double factor = 1.0;                 // linear, dynamic, yarn, llama3
  int64_t original_max_positions = 0;  // yarn, llama3, longrope (max_positions when absent)
  double low_freq_factor = 1.0;        // llama3
  double high_freq_factor = 4.0;       // llama3
  double beta_fast = 32.0;             // yarn
  double beta_slow = 1.0;              // yarn
  double attention_factor = 1.0;       // yarn, longrope: cos and sin are multiplied by it
  bool truncate = true;                // yarn
  // longrope (Phi-3 long context): per-frequency divisors, long_factor once a sequence passes
  // original_max_positions, short_factor before.
  std::vector<double> short_factor, long_factor;
};

struct ModelConfig {
  Architecture arch = Architecture::kGpt2;
  std::string model_type;  // as in config.json: "gpt2", "llama", "mistral", "qwen2", "qwen3", ...
  int64_t vocab_size = 0;
  int64_t hidden = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;      // = heads without grouped-query attention
  int64_t head_dim = 0;      // hidden / heads unless config.json says otherwise
  int64_t intermediate = 0;  // MLP width
  int64_t max_positions = 0;
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;  // = rope.theta
  RopeParams rope;              // every rotary layer, or Gemma 3's global (full-attention) layers
  RopeParams rope_local;        // Gemma 3's sliding-window layers
  double partial_rotary_factor = 1.0;  // Phi-3: rotate only the first head_dim * factor dims
  bool tie_word_embeddings = true;
  bool qkv_bias = false;  // Qwen2 (and Llama with attention_bias) have q/k/v biases
  bool o_bias = false;    // Llama, Qwen3 and Gemma with attention_bias: o_proj has one too
  bool qk_norm = false;   // Qwen3, Gemma 3: RMSNorm over each head of q and k before rotation
  bool fused_projections = false;  // Phi-3: self_attn.qkv_proj and mlp.gate_up_proj
  // Sliding-window attention: query i sees key j only if i - j < sliding_window (0: no window),
  // on the layers sliding_layers marks (empty: every layer).
  int64_t sliding_window = 0;
  std::vector<bool> sliding_layers;
  // Gemma: attention scale query_pre_attn_scalar^-0.5 (0: head_dim^-0.5); tanh soft-capping of
  // attention scores and final logits (0: none).
  double query_pre_attn_scalar = 0;
  double attn_softcap = 0;
  double final_softcap = 0;
  std::string torch_dtype = "float32";
  // config.json as read (null for configurations built in code): saving a loaded model writes it
  // back with only what changed updated, so transformers sees every field it wrote.
  Json source;

  int64_t NumParameters() const;  // of the base model, tied embeddings counted once
  bool SlidingLayer(int64_t layer) const {
    return sliding_window > 0 && (sliding_layers.empty() || sliding_layers[layer]);
  }
};

// A GPT-2 configuration as Hugging Face's GPT2Config builds it (MLP 4x wide, tied embeddings).
ModelConfig Gpt2Config(int64_t vocab_size, int64_t max_positions, int64_t hidden, int64_t layers,
                       int64_t heads);

// `source` names the file in errors ("model/config.json: n_head: ...").
Result<ModelConfig> ParseModelConfig(const Json& doc, const std::string& source);
Result<ModelConfig> ReadModelConfig(const std::string& model_dir);
// config.json for this model: the loaded document with the fields lorafleet changes updated
// (torch_dtype), or, for a configuration built in code (GPT-2 and Llama only), the document
// transformers writes for it.
Json ModelConfigToJson(const ModelConfig& config);

}  // namespace lf::worker
