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

TEST(CausalLmLossTest, IgnoresMaskedPositions) {
  torch::Tensor logits = torch::zeros({1, 3, 4});
  logits.index_put_({0, 0, 2}, 10.0);
  torch::Tensor labels = torch::tensor({2, -100, -100}, torch::kInt64).view({1, 3});
  const double expected = -std::log(std::exp(10.0) / (std::exp(10.0) + 3));
  EXPECT_NEAR(CausalLmLoss(logits, labels).item<double>(), expected, 1e-6);
}

}  // namespace
}  // namespace lf::worker
