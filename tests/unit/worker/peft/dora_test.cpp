#include "worker/peft/dora.h"

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/safetensors.h"
#include "model/test_models.h"
#include "peft/peft_test_util.h"
#include "worker/peft/lora.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::PerturbAdapter;
using testing::SampleIds;
using testing::TempDir;

jobs::JobSpec DoraJob(std::vector<std::string> targets, int64_t r = 4, double alpha = 8) {
  jobs::JobSpec job;
  job.method = jobs::Method::kDora;
  job.dora.r = r;
  job.dora.alpha = alpha;
  job.dora.target_modules = std::move(targets);
  return job;
}

TEST(DoraTest, UntrainedAdapterLeavesTheOutputUnchanged) {
  testing::ExpectUntrainedAdapterChangesNothing(DoraJob({}), 1e-6);
}

TEST(DoraTest, MagnitudeStartsAtTheRowNormsOfTheWeight) {
  // GPT-2's Conv1D is stored [in, out] in its files but kept [out, in]: the norm is per output
  // feature either way (PEFT transposes with fan_in_fan_out before taking it over dim 1).
  auto model = NewModel(testing::TinyGpt2());
  auto adapter = CreateAdapter(*model, DoraJob({"c_attn"}), 0);
  ASSERT_TRUE(adapter.ok());
  LinearModule* c_attn = model->LinearModules()[0];
  ASSERT_EQ(c_attn->name, "transformer.h.0.attn.c_attn");
  ASSERT_TRUE(c_attn->stored_transposed);
  torch::Tensor m = (*adapter)->StateDict().at(
      "base_model.model.transformer.h.0.attn.c_attn.lora_magnitude_vector");
  EXPECT_EQ(m.sizes().vec(), (std::vector<int64_t>{48}));
  EXPECT_TRUE(torch::allclose(m, c_attn->weight.norm(2, {1}), 1e-6, 1e-7));
}

TEST(DoraTest, ComputesTheWeightDecomposedLinearMap) {
  auto model = NewModel(testing::TinyLlama(true));  // q_proj has a bias, which is not rescaled
  auto adapter = CreateAdapter(*model, DoraJob({"q_proj"}, 2, 4), 1);
  ASSERT_TRUE(adapter.ok());
  PerturbAdapter(**adapter, 7);
  LinearModule* q = model->LinearModules()[0];
  ASSERT_EQ(q->name, "model.layers.0.self_attn.q_proj");
  ASSERT_TRUE(q->bias.defined());
  auto state = (*adapter)->StateDict();
  const std::string key = "base_model.model.model.layers.0.self_attn.q_proj";
  torch::Tensor A = state.at(key + ".lora_A.weight"), B = state.at(key + ".lora_B.weight");
  torch::Tensor mag = state.at(key + ".lora_magnitude_vector");
  torch::Tensor adapted = q->weight + torch::matmul(B, A) * (4.0 / 2);
  torch::Tensor w = adapted * (mag / adapted.norm(2, {1})).unsqueeze(1);
  torch::Tensor x = torch::randn({3, 16});
  torch::Tensor base = torch::linear(x, q->weight, q->bias);
  torch::Tensor got = (*adapter)->Apply(*q, x, base.clone());
  EXPECT_TRUE(torch::allclose(got, torch::linear(x, w, q->bias), 1e-5, 1e-5))
      << (got - torch::linear(x, w, q->bias)).abs().max().item<double>();
}

TEST(DoraTest, OnlyAdapterTensorsReceiveGradients) {
  auto model = NewModel(testing::TinyGpt2());
  auto adapter = CreateAdapter(*model, DoraJob({"c_attn", "c_fc"}), 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(*model, adapter->get());
  PerturbAdapter(**adapter, 1);  // with B = 0, A's gradient is zero
  torch::Tensor ids = SampleIds(2, 8, 50);
  CausalLmLoss(model->Forward(ids), ids).backward();
  for (const torch::Tensor& t : model->BaseParameters()) EXPECT_FALSE(t.grad().defined());
  auto params = (*adapter)->Parameters();
  ASSERT_EQ(params.size(), 2u * 3u * 2u);  // 2 layers x 2 modules x (A, B, magnitude)
  for (const torch::Tensor& t : params) {
    ASSERT_TRUE(t.grad().defined());
    EXPECT_GT(t.grad().abs().sum().item<double>(), 0);
  }
}

TEST(DoraTest, DropoutActsOnlyWhileTraining) {
  auto model = NewModel(testing::TinyGpt2());
  jobs::JobSpec job = DoraJob({"c_attn"});
  auto plain = CreateAdapter(*model, job, 0);
  ASSERT_TRUE(plain.ok());
  ScopedHook plain_attached(*model, plain->get());
  PerturbAdapter(**plain, 4);
  torch::Tensor ids = SampleIds(2, 8, 50);
  torch::Tensor expected = model->Forward(ids);
  job.dora.dropout = 0.5;
  auto dropped = CreateAdapter(*model, job, 0);
  ASSERT_TRUE(dropped.ok());
  ScopedHook dropped_attached(*model, dropped->get());  // in place of plain until the test ends
  PerturbAdapter(**dropped, 4);
  EXPECT_TRUE(torch::equal(model->Forward(ids), expected));  // evaluation: no dropout
  (*dropped)->SetTraining(true);
  torch::Tensor train = model->Forward(ids);
  EXPECT_GT((train - expected).abs().max().item<double>(), 1e-4);
  CausalLmLoss(train, ids).backward();
  for (const torch::Tensor& t : (*dropped)->Parameters()) EXPECT_TRUE(t.grad().defined());
}

TEST(DoraTest, LossFallsOnTheBundledModelAndData) {
  auto model = LoadCausalLm(testing::kRepoRoot + "/examples/models/tiny-gpt2");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto adapter = CreateAdapter(**model, DoraJob({"c_attn", "c_fc"}, 4, 8), 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(**model, adapter->get());
  testing::ExpectLossFalls(**model, **adapter, 1e-2, 0.5);
}

TEST(DoraTest, ExportUsesPeftsKeysShapesAndConfig) {
  auto model = NewModel(testing::TinyLlama());
  jobs::JobSpec job = DoraJob({"q_proj", "v_proj", "down_proj"}, 4);
  job.dora.layers_to_transform = {1};
  auto adapter = CreateAdapter(*model, job, 0);
  ASSERT_TRUE(adapter.ok());
  auto state = (*adapter)->StateDict();
  // As PEFT 0.21 saves a LoraConfig(use_dora=True) adapter: the magnitude is 1-D [out].
  const std::string p = "base_model.model.model.layers.1.";
  const std::map<std::string, std::vector<int64_t>> expected = {
      {p + "self_attn.q_proj.lora_A.weight", {4, 16}},
      {p + "self_attn.q_proj.lora_B.weight", {16, 4}},
      {p + "self_attn.q_proj.lora_magnitude_vector", {16}},
      {p + "self_attn.v_proj.lora_A.weight", {4, 16}},
      {p + "self_attn.v_proj.lora_B.weight", {8, 4}},
      {p + "self_attn.v_proj.lora_magnitude_vector", {8}},
      {p + "mlp.down_proj.lora_A.weight", {4, 40}},
      {p + "mlp.down_proj.lora_B.weight", {16, 4}},
      {p + "mlp.down_proj.lora_magnitude_vector", {16}},
  };
  ASSERT_EQ(state.size(), expected.size());
  for (const auto& [key, shape] : expected) {
    ASSERT_TRUE(state.count(key)) << key;
    EXPECT_EQ(state[key].sizes().vec(), shape) << key;
  }
  Json cfg = (*adapter)->PeftConfig("tiny");
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["use_dora"], true);
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["fan_in_fan_out"], false);
  EXPECT_EQ(cfg["layers_to_transform"], Json(std::vector<int64_t>{1}));
}

TEST(DoraTest, ExportThenImportGivesIdenticalOutputs) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama(true)}) {
    auto model = NewModel(config);
    auto adapter = CreateAdapter(*model, DoraJob({}, 4, 16), 0);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(*model, adapter->get());
    PerturbAdapter(**adapter, 2);
    torch::Tensor ids = SampleIds(2, 6, 50);
    torch::Tensor with_adapter = model->Forward(ids);
    std::string dir = TempDir("dora_export_" + config.model_type);
    ASSERT_TRUE(SaveAdapter(**adapter, dir, "tiny-base").ok());
    Json cfg = Json::parse(*ReadFileToString(dir + "/adapter_config.json"));
    EXPECT_EQ(cfg["use_dora"], true);
    EXPECT_EQ(cfg["fan_in_fan_out"], config.arch == Architecture::kGpt2);

    auto fresh = NewModel(config);
    auto loaded = LoadAdapter(*fresh, dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    ScopedHook loaded_attached(*fresh, loaded->get());
    EXPECT_EQ((*loaded)->method(), jobs::Method::kDora);
    EXPECT_TRUE(torch::equal(with_adapter, fresh->Forward(ids))) << config.model_type;
  }
}

TEST(DoraTest, MergedModelComputesWhatBasePlusAdapterComputes) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama(true)}) {
    auto model = NewModel(config);
    jobs::JobSpec job = config.arch == Architecture::kGpt2
                            ? DoraJob({"c_attn", "c_proj", "c_fc"})
                            : DoraJob({"q_proj", "v_proj", "o_proj", "down_proj"});
    auto adapter = CreateAdapter(*model, job, 0);
    ASSERT_TRUE(adapter.ok());
    PerturbAdapter(**adapter, 6);
    torch::Tensor ids = SampleIds(2, 9, 50);
    torch::Tensor expected;
    {
      ScopedHook attached(*model, adapter->get());
      expected = model->Forward(ids);
    }
    ASSERT_TRUE((*adapter)->MergeInto(*model).ok());  // the base alone computes it now
    torch::Tensor merged = model->Forward(ids);
    EXPECT_TRUE(torch::allclose(expected, merged, 1e-4, 1e-4))
        << config.model_type << " " << (expected - merged).abs().max().item<double>();
  }
}

TEST(DoraTest, BadSettingsAndFoldersAreRejected) {
  auto model = NewModel(testing::TinyGpt2());
  auto none = CreateAdapter(*model, DoraJob({"q_proj"}), 0);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("job.dora.target_modules: no module"), std::string::npos)
      << none.status().message();
  jobs::JobSpec layers = DoraJob({});
  layers.dora.layers_to_transform = {7};
  EXPECT_NE(CreateAdapter(*model, layers, 0)
                .status()
                .message()
                .find("job.dora.layers_to_transform: layer 7 does not exist"),
            std::string::npos);

  // A LoRA folder relabelled as DoRA lacks the magnitudes.
  auto lora = CreateAdapter(*model, jobs::JobSpec{}, 0);
  ASSERT_TRUE(lora.ok());
  std::string dir = TempDir("dora_bad");
  ASSERT_TRUE(SaveAdapter(**lora, dir, "b").ok());
  Json cfg = Json::parse(*ReadFileToString(dir + "/adapter_config.json"));
  cfg["use_dora"] = true;
  ASSERT_TRUE(WriteFileAtomically(dir + "/adapter_config.json", cfg.dump()).ok());
  auto loaded = LoadAdapter(*NewModel(testing::TinyGpt2()), dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("missing tensor 'base_model.model.transformer.h.0.attn."
                                           "c_attn.lora_magnitude_vector'"),
            std::string::npos)
      << loaded.status().message();
}

}  // namespace
}  // namespace lf::worker
