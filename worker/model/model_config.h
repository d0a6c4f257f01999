// The architecture of a base model, read from a Hugging Face config.json. Two families: GPT-2
// and the Llama family (Llama, Mistral, Qwen2: RMSNorm, rotary embeddings, grouped-query
// attention, gated SiLU MLP). Torch-free; values, thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf::worker {

enum class Architecture { kGpt2, kLlama };

struct ModelConfig {
  Architecture arch = Architecture::kGpt2;
  std::string model_type;  // as in config.json: "gpt2", "llama", "mistral", "qwen2"
  int64_t vocab_size = 0;
  int64_t hidden = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;      // = heads without grouped-query attention
  int64_t head_dim = 0;      // hidden / heads unless config.json says otherwise
  int64_t intermediate = 0;  // MLP width
  int64_t max_positions = 0;
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = true;
  bool qkv_bias = false;  // Qwen2 (and Llama with attention_bias) have q/k/v biases
  std::string torch_dtype = "float32";

  int64_t NumParameters() const;  // of the base model, tied embeddings counted once
};

// A GPT-2 configuration as Hugging Face's GPT2Config builds it (MLP 4x wide, tied embeddings).
ModelConfig Gpt2Config(int64_t vocab_size, int64_t max_positions, int64_t hidden, int64_t layers,
                       int64_t heads);

// `source` names the file in errors ("model/config.json: n_head: ...").
Result<ModelConfig> ParseModelConfig(const Json& doc, const std::string& source);
Result<ModelConfig> ReadModelConfig(const std::string& model_dir);
// config.json as Hugging Face transformers writes it for this architecture.
Json ModelConfigToJson(const ModelConfig& config);

}  // namespace lf::worker
