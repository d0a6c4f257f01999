// Tiny models for worker tests: GPT-2 and Llama-family configurations small enough to run in
// milliseconds, built from random weights.
#pragma once

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "worker/model/causal_lm.h"

namespace lf::worker::testing {

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
