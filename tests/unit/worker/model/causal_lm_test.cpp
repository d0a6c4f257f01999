#include "worker/model/causal_lm.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/file_util.h"
#include "common/safetensors.h"
#include "model/test_models.h"
#include "worker/model/tensor_io.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::SampleIds;
using testing::TempDir;

class CausalLmRoundTrip : public ::testing::TestWithParam<ModelConfig> {};

TEST_P(CausalLmRoundTrip, SavedModelLoadsBackWithIdenticalLogits) {
  auto model = NewModel(GetParam());
  std::string dir = TempDir("roundtrip_" + GetParam().model_type);
  ASSERT_TRUE(SaveCausalLm(*model, dir).ok());
  auto loaded = LoadCausalLm(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  torch::Tensor ids = SampleIds(2, 7, GetParam().vocab_size);
  torch::Tensor a = model->Forward(ids), b = (*loaded)->Forward(ids);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 7, GetParam().vocab_size}));
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_EQ((*loaded)->NumBaseParameters(), GetParam().NumParameters());
}

TEST_P(CausalLmRoundTrip, CausalityAndBatchIndependence) {
  auto model = NewModel(GetParam());
  torch::Tensor ids = SampleIds(2, 10, GetParam().vocab_size);
  torch::Tensor full = model->Forward(ids);
  // Changing a later token never changes earlier logits.
  torch::Tensor changed = ids.clone();
  changed.index_put_({0, 9}, (changed.index({0, 9}) + 1) % GetParam().vocab_size);
  torch::Tensor after = model->Forward(changed);
  EXPECT_TRUE(torch::allclose(full.slice(1, 0, 9), after.slice(1, 0, 9), 1e-6, 1e-6));
  // A row's logits do not depend on the other rows of the batch.
  torch::Tensor alone = model->Forward(ids.slice(0, 1, 2));
  EXPECT_TRUE(torch::allclose(full.slice(0, 1, 2), alone, 1e-5, 1e-6));
}

TEST_P(CausalLmRoundTrip, FrozenBaseHasNoGradients) {
  auto model = NewModel(GetParam());
  for (const torch::Tensor& t : model->BaseParameters()) EXPECT_FALSE(t.requires_grad());
  torch::Tensor ids = SampleIds(1, 5, GetParam().vocab_size);
  EXPECT_FALSE(model->Forward(ids).requires_grad());
}

INSTANTIATE_TEST_SUITE_P(Architectures, CausalLmRoundTrip,
                         ::testing::Values(testing::TinyGpt2(), testing::TinyLlama(),
                                           testing::TinyLlama(/*qwen2=*/true, /*tied=*/true)),
                         [](const auto& info) {
                           return info.param.model_type + (info.param.tie_word_embeddings ? "_tied" : "");
                         });

// Fixed virtual tokens: a prefix-tuning KvPrefix or a soft prompt, as the prompt-learning
// adapters return them.
class FixedPrefixHook final : public ModelHook {
 public:
  FixedPrefixHook(torch::Tensor kv, torch::Tensor prompt) : kv_(kv), prompt_(prompt) {}
  torch::Tensor KvPrefix(int64_t /*layer*/) override { return kv_; }
  torch::Tensor SoftPrompt() override { return prompt_; }

 private:
  torch::Tensor kv_, prompt_;
};

// The models the packing tests run: built in code, and every Hugging Face fixture.
std::vector<std::pair<std::string, std::unique_ptr<CausalLm>>> PackingModels() {
  std::vector<std::pair<std::string, std::unique_ptr<CausalLm>>> out;
  out.emplace_back("gpt2", NewModel(testing::TinyGpt2()));
  out.emplace_back("llama", NewModel(testing::TinyLlama()));
  for (const char* name : {"llama_rope_llama3", "llama_rope_linear", "qwen2_yarn", "qwen3",
                           "phi3_longrope", "mistral_sliding", "phi3", "gemma2", "gemma3"}) {
    auto model = LoadCausalLm(std::string(LF_TEST_SRCDIR) + "/testdata/hf/" + name + "/base");
    EXPECT_TRUE(model.ok()) << model.status().ToString();
    if (model.ok()) out.emplace_back(name, std::move(model).value());
  }
  return out;
}

double MaxDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Row 0 packs documents of 5 and 7 tokens, row 1 of 3, 4 and 5: each document's logits equal the
// document run alone (positions restart, no attention across documents).
TEST(CausalLmPackingTest, PackedDocumentsEqualEachDocumentAlone) {
  for (auto& [name, model] : PackingModels()) {
    const int64_t vocab = model->config().vocab_size;
    torch::Tensor ids = SampleIds(2, 12, std::min<int64_t>(vocab, 50));
    torch::Tensor docs = torch::tensor({0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1,  //
                                        4, 4, 4, 6, 6, 6, 6, 9, 9, 9, 9, 9},
                                       torch::kInt64)
                             .view({2, 12});
    torch::Tensor packed = model->Forward(ids, docs);
    const std::vector<std::vector<int64_t>> bounds = {{0, 5, 12}, {0, 3, 7, 12}};
    for (int64_t row = 0; row < 2; ++row) {
      for (size_t d = 0; d + 1 < bounds[row].size(); ++d) {
        const int64_t begin = bounds[row][d], end = bounds[row][d + 1];
        torch::Tensor alone = model->Forward(ids.slice(0, row, row + 1).slice(1, begin, end));
        EXPECT_LT(MaxDiff(packed.slice(0, row, row + 1).slice(1, begin, end), alone), 1e-5)
            << name << " row " << row << " document " << d;
      }
    }
    // One document per row is the unmasked forward pass.
    EXPECT_LT(MaxDiff(model->Forward(ids, torch::zeros_like(ids)), model->Forward(ids)), 1e-5)
        << name;
  }
}

// Prefix tuning's keys and values stay visible to every document; a soft prompt belongs to the
// first document only.
TEST(CausalLmPackingTest, PrefixIsSharedAndSoftPromptJoinsTheFirstDocument) {
  for (auto& [name, model] : PackingModels()) {
    const ModelConfig& c = model->config();
    torch::manual_seed(5);
    torch::Tensor ids = SampleIds(1, 9, std::min<int64_t>(c.vocab_size, 50));
    torch::Tensor docs = torch::tensor({0, 0, 0, 0, 1, 1, 1, 1, 1}, torch::kInt64).view({1, 9});
    {
      FixedPrefixHook prefix(torch::randn({2, c.kv_heads, 3, c.head_dim}), torch::Tensor());
      ScopedHook attached(*model, &prefix);
      torch::Tensor packed = model->Forward(ids, docs);
      EXPECT_LT(MaxDiff(packed.slice(1, 0, 4), model->Forward(ids.slice(1, 0, 4))), 1e-5) << name;
      EXPECT_LT(MaxDiff(packed.slice(1, 4), model->Forward(ids.slice(1, 4))), 1e-5) << name;
    }
    FixedPrefixHook prompt(torch::Tensor(), torch::randn({2, c.hidden}));
    torch::Tensor packed;
    {
      ScopedHook attached(*model, &prompt);
      packed = model->Forward(ids, docs);
      EXPECT_LT(MaxDiff(packed.slice(1, 0, 4), model->Forward(ids.slice(1, 0, 4))), 1e-5) << name;
    }
    EXPECT_LT(MaxDiff(packed.slice(1, 4), model->Forward(ids.slice(1, 4))), 1e-5) << name;
  }
}

TEST(CausalLmLoadTest, Gpt2KeysWithoutPrefixAndMaskBuffersAreAccepted) {
  auto model = NewModel(testing::TinyGpt2());
  std::string dir = TempDir("gpt2_noprefix");
  ASSERT_TRUE(SaveCausalLm(*model, dir).ok());
  std::map<std::string, torch::Tensor> renamed;
  for (auto& [name, t] : model->StateDict()) renamed[name.substr(std::string("transformer.").size())] = t;
  renamed["h.0.attn.bias"] = torch::ones({1, 1, 32, 32});  // causal mask buffer of old checkpoints
  renamed["lm_head.weight"] = model->StateDict().at("transformer.wte.weight");  // tied copy
  ASSERT_TRUE(SaveTensors(renamed, dir + "/model.safetensors").ok());
  auto loaded = LoadCausalLm(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  torch::Tensor ids = SampleIds(1, 6, 50);
  EXPECT_TRUE(torch::equal(model->Forward(ids), (*loaded)->Forward(ids)));
}

TEST(CausalLmLoadTest, ShardedCheckpointsLoad) {
  auto model = NewModel(testing::TinyLlama());
  std::string dir = TempDir("sharded");
  ASSERT_TRUE(SaveCausalLm(*model, dir).ok());
  std::filesystem::remove(dir + "/model.safetensors");
  std::map<std::string, torch::Tensor> a, b;
  Json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", Json::object()}};
  int i = 0;
  for (auto& [name, t] : model->StateDict()) {
    ((i++ % 2) ? a : b)[name] = t;
    index["weight_map"][name] = (i % 2) ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  ASSERT_TRUE(SaveTensors(a, dir + "/model-00002-of-00002.safetensors").ok());
  ASSERT_TRUE(SaveTensors(b, dir + "/model-00001-of-00002.safetensors").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/model.safetensors.index.json", index.dump()).ok());
  auto loaded = LoadCausalLm(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  torch::Tensor ids = SampleIds(1, 6, 50);
  EXPECT_TRUE(torch::equal(model->Forward(ids), (*loaded)->Forward(ids)));
}

TEST(CausalLmLoadTest, HalfPrecisionWeightsAreConverted) {
  auto model = NewModel(testing::TinyGpt2());
  std::string dir = TempDir("bf16");
  ASSERT_TRUE(SaveCausalLm(*model, dir).ok());
  std::map<std::string, torch::Tensor> half;
  for (auto& [name, t] : model->StateDict()) half[name] = t.to(torch::kBFloat16);
  ASSERT_TRUE(SaveTensors(half, dir + "/model.safetensors").ok());
  auto loaded = LoadCausalLm(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  torch::Tensor ids = SampleIds(1, 6, 50);
  EXPECT_TRUE(torch::allclose(model->Forward(ids), (*loaded)->Forward(ids), 0.05, 0.05));
}

// Each case breaks a saved model one way and expects an error naming the culprit.
TEST(CausalLmLoadTest, BrokenFoldersAreRejectedNamingTheProblem) {
  auto model = NewModel(testing::TinyGpt2());
  auto fresh = [&](const std::string& name) {
    std::string dir = TempDir("broken_" + name);
    EXPECT_TRUE(SaveCausalLm(*model, dir).ok());
    return dir;
  };
  auto state = model->StateDict();
  auto expect_error = [](const std::string& dir, const std::string& needle) {
    auto r = LoadCausalLm(dir);
    ASSERT_FALSE(r.ok()) << dir;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect_error("/nonexistent/model", "does not exist");

  std::string dir = fresh("noconfig");
  std::filesystem::remove(dir + "/config.json");
  expect_error(dir, "config.json");

  dir = fresh("badarch");
  ASSERT_TRUE(WriteFileAtomically(dir + "/config.json", R"({"model_type": "bert", "vocab_size": 3})").ok());
  expect_error(dir, "architecture \"bert\" is not supported");

  dir = fresh("badjson");
  ASSERT_TRUE(WriteFileAtomically(dir + "/config.json", "{\"model_type\": ").ok());
  expect_error(dir, "invalid JSON");

  dir = fresh("noweights");
  std::filesystem::remove(dir + "/model.safetensors");
  expect_error(dir, "neither model.safetensors");

  dir = fresh("missing");
  auto missing = state;
  missing.erase("transformer.h.1.mlp.c_fc.bias");
  ASSERT_TRUE(SaveTensors(missing, dir + "/model.safetensors").ok());
  expect_error(dir, "lacks tensor 'transformer.h.1.mlp.c_fc.bias'");

  dir = fresh("shape");
  auto wrong = state;
  wrong["transformer.h.0.attn.c_attn.weight"] = torch::zeros({48, 16});  // transposed Conv1D
  ASSERT_TRUE(SaveTensors(wrong, dir + "/model.safetensors").ok());
  expect_error(dir, "'transformer.h.0.attn.c_attn.weight' has shape [48, 16] but config.json implies [16, 48]");

  dir = fresh("extra");
  auto extra = state;
  extra["transformer.h.2.ln_1.weight"] = torch::ones({16});
  ASSERT_TRUE(SaveTensors(extra, dir + "/model.safetensors").ok());
  expect_error(dir, "'transformer.h.2.ln_1.weight' is not part of a gpt2 model");

  dir = fresh("corrupt");
  ASSERT_TRUE(WriteFileAtomically(dir + "/model.safetensors", "not a safetensors file").ok());
  expect_error(dir, "model.safetensors");
}

Json DecoderConfig(const std::string& model_type, Json extra = Json::object()) {
  Json doc = {{"model_type", model_type},
              {"vocab_size", 50},
              {"hidden_size", 16},
              {"num_hidden_layers", 4},
              {"num_attention_heads", 4},
              {"num_key_value_heads", 2},
              {"head_dim", 8},
              {"intermediate_size", 32},
              {"max_position_embeddings", 64}};
  doc.update(extra);
  return doc;
}

TEST(ModelConfigTest, RopeScalingInEitherFormat) {
  // transformers 4: rope_theta at the top, rope_scaling with "type"; 5: rope_parameters.
  auto old_format = ParseModelConfig(
      DecoderConfig(
          "qwen2",
          {{"rope_theta", 500.0},
           {"rope_scaling",
            {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 16}}}}),
      "c.json");
  ASSERT_TRUE(old_format.ok()) << old_format.status().ToString();
  EXPECT_EQ(old_format->rope.type, RopeType::kYarn);
  EXPECT_EQ(old_format->rope.theta, 500.0);
  EXPECT_EQ(old_format->rope.original_max_positions, 16);
  EXPECT_NEAR(old_format->rope.attention_factor, 0.1 * std::log(4.0) + 1, 1e-12);
  auto new_format =
      ParseModelConfig(DecoderConfig("llama", {{"rope_parameters",
                                                {{"rope_type", "llama3"},
                                                 {"rope_theta", 5e5},
                                                 {"factor", 8.0},
                                                 {"low_freq_factor", 1.0},
                                                 {"high_freq_factor", 4.0},
                                                 {"original_max_position_embeddings", 8192}}}}),
                       "c.json");
  ASSERT_TRUE(new_format.ok()) << new_format.status().ToString();
  EXPECT_EQ(new_format->rope.type, RopeType::kLlama3);
  EXPECT_EQ(new_format->rope_theta, 5e5);
  EXPECT_EQ(new_format->rope.original_max_positions, 8192);
  // Phi-3.5: "su" is longrope; factor from max / original positions, attention factor from it.
  auto phi = ParseModelConfig(DecoderConfig("phi3", {{"original_max_position_embeddings", 16},
                                                     {"rope_scaling",
                                                      {{"type", "su"},
                                                       {"short_factor", {1.0, 1.0, 1.0, 1.0}},
                                                       {"long_factor", {1.0, 2.0, 3.0, 4.0}}}}}),
                              "c.json");
  ASSERT_TRUE(phi.ok()) << phi.status().ToString();
  EXPECT_EQ(phi->rope.type, RopeType::kLongrope);
  EXPECT_EQ(phi->rope.factor, 4.0);
  EXPECT_NEAR(phi->rope.attention_factor, std::sqrt(1 + std::log(4.0) / std::log(16.0)), 1e-12);
  EXPECT_EQ(phi->rope.long_factor, (std::vector<double>{1.0, 2.0, 3.0, 4.0}));
}

TEST(ModelConfigTest, UnsupportedValuesAreRefusedNamingFileAndField) {
  auto expect_error = [](const Json& doc, const std::string& message) {
    auto c = ParseModelConfig(doc, "model/config.json");
    ASSERT_FALSE(c.ok()) << doc.dump();
    EXPECT_EQ(c.status().message(), message);
  };
  expect_error(DecoderConfig("qwen2", {{"rope_scaling", {{"rope_type", "mrope"}}}}),
               "model/config.json: rope_scaling.rope_type: \"mrope\" is not supported; "
               "supported: default, linear, dynamic, yarn, llama3, longrope");
  expect_error(DecoderConfig("llama", {{"rope_parameters", {{"type", "ntk"}}}}),
               "model/config.json: rope_parameters.type: \"ntk\" is not supported; "
               "supported: default, linear, dynamic, yarn, llama3, longrope");
  expect_error(DecoderConfig("phi3", {{"rope_scaling",
                                       {{"type", "longrope"},
                                        {"short_factor", {1.0, 1.0, 1.0}},
                                        {"long_factor", {1.0, 1.0, 1.0, 1.0}}}}}),
               "model/config.json: rope_scaling.short_factor: has 3 entries; this model rotates 8 "
               "dimensions, so it needs 4");
  expect_error(DecoderConfig("gemma2", {{"layer_types", {"full_attention"}}}),
               "model/config.json: layer_types: has 1 entries but num_hidden_layers is 4");
  auto c = ParseModelConfig(DecoderConfig("llama", {{"rope_scaling", {{"type", "linear"}}}}), "f");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("rope_scaling"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("factor"), std::string::npos) << c.status().message();
}

TEST(ModelConfigTest, SlidingWindowsAsTransformersConfigsSetThem) {
  auto mistral = ParseModelConfig(DecoderConfig("mistral"), "c.json");  // absent: 4096
  ASSERT_TRUE(mistral.ok());
  EXPECT_EQ(mistral->sliding_window, 4096);
  EXPECT_TRUE(mistral->SlidingLayer(3));
  auto no_window = ParseModelConfig(DecoderConfig("mistral", {{"sliding_window", nullptr}}), "c");
  ASSERT_TRUE(no_window.ok());
  EXPECT_FALSE(no_window->SlidingLayer(0));
  auto qwen = ParseModelConfig(DecoderConfig("qwen2", {{"sliding_window", 8}}), "c.json");
  ASSERT_TRUE(qwen.ok());  // use_sliding_window false
  EXPECT_FALSE(qwen->SlidingLayer(0));
  // Gemma 3 as transformers 4 wrote it: every 2nd layer global with rope_theta and scaling, the
  // others local with rope_local_base_freq.
  auto gemma3 = ParseModelConfig(
      DecoderConfig("gemma3_text", {{"sliding_window_pattern", 2},
                                    {"sliding_window", 8},
                                    {"rope_theta", 1e6},
                                    {"rope_local_base_freq", 1e4},
                                    {"rope_scaling", {{"rope_type", "linear"}, {"factor", 8.0}}}}),
      "c.json");
  ASSERT_TRUE(gemma3.ok()) << gemma3.status().ToString();
  EXPECT_EQ(gemma3->sliding_layers, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(gemma3->rope.type, RopeType::kLinear);
  EXPECT_EQ(gemma3->rope.theta, 1e6);
  EXPECT_EQ(gemma3->rope_local.type, RopeType::kDefault);
  EXPECT_EQ(gemma3->rope_local.theta, 1e4);
  EXPECT_EQ(gemma3->final_softcap, 0);
  auto gemma2 = ParseModelConfig(DecoderConfig("gemma2"), "c.json");
  ASSERT_TRUE(gemma2.ok()) << gemma2.status().ToString();
  EXPECT_EQ(gemma2->sliding_layers, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(gemma2->attn_softcap, 50);
  EXPECT_EQ(gemma2->final_softcap, 30);
  EXPECT_TRUE(gemma2->tie_word_embeddings);
}

TEST(CausalLmLossTest, IgnoresMaskedPositions) {
  torch::Tensor logits = torch::zeros({1, 3, 4});
  logits.index_put_({0, 0, 2}, 10.0);
  torch::Tensor labels = torch::tensor({2, -100, -100}, torch::kInt64).view({1, 3});
  const double expected = -std::log(std::exp(10.0) / (std::exp(10.0) + 3));
  EXPECT_NEAR(CausalLmLoss(logits, labels).item<double>(), expected, 1e-6);
}

}  // namespace
}  // namespace lf::worker
