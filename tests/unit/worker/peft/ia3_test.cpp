#include "worker/peft/ia3.h"

#include <gtest/gtest.h>

#include "model/test_models.h"
#include "peft/peft_test_util.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::PerturbAdapter;
using testing::SampleIds;

jobs::JobSpec Ia3Job(std::vector<std::string> targets = {}, std::vector<std::string> ff = {}) {
  jobs::JobSpec job;
  job.method = jobs::Method::kIa3;
  job.ia3.target_modules = std::move(targets);
  job.ia3.feedforward_modules = std::move(ff);
  return job;
}

TEST(Ia3Test, UntrainedAdapterLeavesTheOutputUnchanged) {
  testing::ExpectUntrainedAdapterChangesNothing(Ia3Job(), 1e-6);
}

TEST(Ia3Test, DefaultsKeysAndShapesFollowPeft) {
  // GPT-2: PEFT's defaults c_attn (output scaled, [out, 1]) and mlp.c_proj (feed-forward, input
  // scaled, [1, in]); the Conv1D layout does not change the stored shapes.
  auto gpt2 = NewModel(testing::TinyGpt2());
  auto g = CreateAdapter(*gpt2, Ia3Job(), 0);
  ASSERT_TRUE(g.ok());
  auto gs = (*g)->StateDict();
  const std::map<std::string, std::vector<int64_t>> gpt2_expected = {
      {"base_model.model.transformer.h.0.attn.c_attn.ia3_l", {48, 1}},
      {"base_model.model.transformer.h.0.mlp.c_proj.ia3_l", {1, 64}},
      {"base_model.model.transformer.h.1.attn.c_attn.ia3_l", {48, 1}},
      {"base_model.model.transformer.h.1.mlp.c_proj.ia3_l", {1, 64}},
  };
  ASSERT_EQ(gs.size(), gpt2_expected.size());
  for (const auto& [key, shape] : gpt2_expected) {
    ASSERT_TRUE(gs.count(key)) << key;
    EXPECT_EQ(gs[key].sizes().vec(), shape) << key;
    EXPECT_TRUE(torch::equal(gs[key], torch::ones(shape))) << key;
  }
  Json cfg = (*g)->PeftConfig("tiny");
  EXPECT_EQ(cfg["peft_type"], "IA3");
  EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
  EXPECT_EQ(cfg["fan_in_fan_out"], true);
  EXPECT_EQ(cfg["target_modules"], Json(std::vector<std::string>{"c_attn", "mlp.c_proj"}));
  EXPECT_EQ(cfg["feedforward_modules"], Json(std::vector<std::string>{"mlp.c_proj"}));
  EXPECT_EQ(cfg["init_ia3_weights"], true);

  // Llama: k_proj, v_proj, down_proj with down_proj feed-forward.
  auto llama = NewModel(testing::TinyLlama());
  auto l = CreateAdapter(*llama, Ia3Job(), 0);
  ASSERT_TRUE(l.ok());
  auto ls = (*l)->StateDict();
  EXPECT_EQ(ls.size(), 6u);
  EXPECT_EQ(ls.at("base_model.model.model.layers.0.self_attn.k_proj.ia3_l").sizes().vec(),
            (std::vector<int64_t>{8, 1}));
  EXPECT_EQ(ls.at("base_model.model.model.layers.0.self_attn.v_proj.ia3_l").sizes().vec(),
            (std::vector<int64_t>{8, 1}));
  EXPECT_EQ(ls.at("base_model.model.model.layers.1.mlp.down_proj.ia3_l").sizes().vec(),
            (std::vector<int64_t>{1, 40}));
  EXPECT_EQ((*l)->NumTrainable(), 2 * (8 + 8 + 40));
  // Qwen2's defaults differ (q_proj instead of k_proj), as PEFT's mapping has them.
  EXPECT_EQ(DefaultIa3Modules(testing::TinyLlama(true)).target_modules,
            (std::vector<std::string>{"q_proj", "v_proj", "down_proj"}));
}

TEST(Ia3Test, ScalesOutputsOrFeedForwardInputs) {
  auto model = NewModel(testing::TinyLlama(true));  // q_proj has a bias
  auto adapter = CreateAdapter(*model, Ia3Job({"q_proj", "down_proj"}, {"down_proj"}), 0);
  ASSERT_TRUE(adapter.ok());
  PerturbAdapter(**adapter, 3, 0.5);
  auto state = (*adapter)->StateDict();
  LinearModule* q = model->LinearModules()[0];
  ASSERT_EQ(q->name, "model.layers.0.self_attn.q_proj");
  torch::Tensor lq = state.at("base_model.model.model.layers.0.self_attn.q_proj.ia3_l");
  torch::Tensor x = torch::randn({3, 16});
  torch::Tensor base = torch::linear(x, q->weight, q->bias);
  EXPECT_TRUE(torch::allclose((*adapter)->Apply(*q, x, base.clone()), base * lq.view({1, -1}), 1e-6,
                              1e-6));  // bias scaled too, as PEFT does
  LinearModule* down = nullptr;
  for (LinearModule* m : model->LinearModules()) {
    if (m->name == "model.layers.0.mlp.down_proj") down = m;
  }
  ASSERT_NE(down, nullptr);
  torch::Tensor ld = state.at("base_model.model.model.layers.0.mlp.down_proj.ia3_l");
  torch::Tensor h = torch::randn({3, 40});
  torch::Tensor got = (*adapter)->Apply(*down, h, torch::linear(h, down->weight, down->bias));
  EXPECT_TRUE(torch::allclose(got, torch::linear(h * ld.view({1, -1}), down->weight, down->bias),
                              1e-6, 1e-6));
}

TEST(Ia3Test, OnlyAdapterTensorsReceiveGradients) {
  auto model = NewModel(testing::TinyGpt2());
  auto adapter = CreateAdapter(*model, Ia3Job(), 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(*model, adapter->get());
  torch::Tensor ids = SampleIds(2, 8, 50);
  CausalLmLoss(model->Forward(ids), ids).backward();
  for (const torch::Tensor& t : model->BaseParameters()) EXPECT_FALSE(t.grad().defined());
  auto params = (*adapter)->Parameters();
  ASSERT_EQ(params.size(), 4u);
  for (const torch::Tensor& t : params) {
    ASSERT_TRUE(t.grad().defined());
    EXPECT_GT(t.grad().abs().sum().item<double>(), 0);
  }
}

TEST(Ia3Test, LossFallsOnTheBundledModelAndData) {
  auto model = LoadCausalLm(testing::kRepoRoot + "/examples/models/tiny-gpt2");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto adapter =
      CreateAdapter(**model, Ia3Job({"c_attn", "c_fc", "mlp.c_proj"}, {"mlp.c_proj"}), 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(**model, adapter->get());
  testing::ExpectLossFalls(**model, **adapter, 3e-2, 0.5);
}

TEST(Ia3Test, ExportThenImportGivesIdenticalOutputs) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama(true)}) {
    auto model = NewModel(config);
    auto adapter = CreateAdapter(*model, Ia3Job(), 0);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(*model, adapter->get());
    PerturbAdapter(**adapter, 2, 0.5);
    Json cfg = testing::ExpectExportRoundTrip(config, *model, **adapter,
                                              "ia3_export_" + config.model_type);
    EXPECT_EQ(cfg["peft_type"], "IA3");
  }
}

TEST(Ia3Test, MergedModelComputesWhatBasePlusAdapterComputes) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama(true)}) {
    auto model = NewModel(config);
    jobs::JobSpec job = config.arch == Architecture::kGpt2
                            ? Ia3Job({"c_attn", "c_fc", "mlp.c_proj"}, {"mlp.c_proj"})
                            : Ia3Job({"q_proj", "v_proj", "up_proj", "down_proj"}, {"down_proj"});
    auto adapter = CreateAdapter(*model, job, 0);
    ASSERT_TRUE(adapter.ok());
    PerturbAdapter(**adapter, 6, 0.5);
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

TEST(Ia3Test, BadSettingsAndFoldersAreRejected) {
  auto model = NewModel(testing::TinyGpt2());
  auto none = CreateAdapter(*model, Ia3Job({"q_proj"}), 0);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("job.ia3.target_modules: no module"), std::string::npos)
      << none.status().message();

  const testing::SavedAdapter saved(testing::TinyGpt2(), Ia3Job(), "ia3_bad");
  // Declaring c_attn feed-forward changes the shape its vector must have.
  Json cfg = saved.config();
  cfg["feedforward_modules"] = {"c_attn", "mlp.c_proj"};
  std::string message = saved.LoadErrorWith(cfg);
  EXPECT_NE(message.find("has shape [48, 1], expected [1, 16]"), std::string::npos) << message;
  cfg["feedforward_modules"] = "c_attn|c_proj";
  EXPECT_NE(saved.LoadErrorWith(cfg).find("regular expression is not supported"),
            std::string::npos);
}

}  // namespace
}  // namespace lf::worker
