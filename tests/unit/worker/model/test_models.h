// Tiny models for worker tests: GPT-2 and Llama-family configurations small enough to run in
// milliseconds, built from random weights.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "common/safetensors.h"
#include "worker/model/causal_lm.h"
#include "worker/model/tensor_io.h"

namespace lf::worker::testing {

// The checkout, for the bundled model (examples/models) and data (examples/data).
inline const std::string kRepoRoot = std::string(LF_TEST_SRCDIR) + "/../../..";

inline ModelConfig TinyGpt2() { return Gpt2Config(50, 32, 16, 2, 2); }

// Grouped-query attention (4 query heads, 2 kv heads); `qwen2` adds q/k/v biases.
inline ModelConfig TinyLlama(bool qwen2 = false, bool tied = false) {
  ModelConfig c;
  c.arch = Architecture::kLlama;
  c.model_type = qwen2 ? "qwen2" : "llama";
  c.vocab_size = 50;
  c.hidden = 16;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.head_dim = 4;
  c.intermediate = 40;
  c.max_positions = 32;
  c.norm_eps = 1e-6;
  c.rope_theta = 10000;
  c.tie_word_embeddings = tied;
  c.qkv_bias = qwen2;
  return c;
}

inline std::unique_ptr<CausalLm> NewModel(const ModelConfig& config, uint64_t seed = 1) {
  auto m = NewCausalLm(config, seed);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

// Every tensor of a safetensors file (a saved adapter's adapter_model.safetensors).
inline std::map<std::string, torch::Tensor> SavedTensors(const std::string& path) {
  auto file = safetensors::File::Open(path);
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  if (!file.ok()) return {};
  auto tensors = LoadAllTensors(*file);
  EXPECT_TRUE(tensors.ok()) << tensors.status().ToString();
  return tensors.ok() ? std::move(tensors).value() : std::map<std::string, torch::Tensor>{};
}

inline std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("lf_worker_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline torch::Tensor SampleIds(int64_t batch, int64_t seq, int64_t vocab, uint64_t seed = 3) {
  torch::manual_seed(seed);
  return torch::randint(vocab, {batch, seq}, torch::kInt64);
}

}  // namespace lf::worker::testing
