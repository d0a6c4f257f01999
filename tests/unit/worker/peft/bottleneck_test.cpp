#include "worker/peft/bottleneck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>

#include "model/test_models.h"
#include "peft/peft_test_util.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::PerturbAdapter;
using testing::SampleIds;

jobs::JobSpec BottleneckJob(int64_t size = 8, std::string activation = "relu",
                            std::vector<std::string> after = {"attention", "feed_forward"}) {
  jobs::JobSpec job;
  job.method = jobs::Method::kBottleneck;
  job.bottleneck.size = size;
  job.bottleneck.activation = std::move(activation);
  job.bottleneck.after = std::move(after);
  return job;
}

LinearModule* FindModule(CausalLm& model, const std::string& name) {
  for (LinearModule* m : model.LinearModules()) {
    if (m->name == name) return m;
  }
  ADD_FAILURE() << "no module " << name;
  return nullptr;
}

TEST(BottleneckTest, UntrainedAdapterLeavesTheOutputUnchanged) {
  testing::ExpectUntrainedAdapterChangesNothing(BottleneckJob(), 1e-6);
}

TEST(BottleneckTest, KeysShapesAndInitialisation) {
  auto model = NewModel(testing::TinyGpt2());  // hidden 16
  auto adapter = CreateAdapter(*model, BottleneckJob(8), 0);
  ASSERT_TRUE(adapter.ok());
  auto state = (*adapter)->StateDict();
  ASSERT_EQ(state.size(), 16u);  // 2 layers x 2 sublayers x 4 tensors
  for (const char* module : {"transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj",
                             "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_proj"}) {
    const std::string key = std::string("base_model.model.") + module;
    torch::Tensor down = state.at(key + ".adapter_down.weight");
    EXPECT_EQ(down.sizes().vec(), (std::vector<int64_t>{8, 16})) << module;
    EXPECT_LE(down.abs().max().item<double>(), 0.25) << module;  // U(-1/sqrt(16), 1/sqrt(16))
    EXPECT_GT(down.abs().max().item<double>(), 0.1) << module;
    EXPECT_TRUE(torch::equal(state.at(key + ".adapter_down.bias"), torch::zeros({8})));
    EXPECT_TRUE(torch::equal(state.at(key + ".adapter_up.weight"), torch::zeros({16, 8})));
    EXPECT_TRUE(torch::equal(state.at(key + ".adapter_up.bias"), torch::zeros({16})));
  }
  EXPECT_EQ((*adapter)->NumTrainable(), 4 * (8 * 16 + 8 + 16 * 8 + 16));
  // The seed decides the initialisation.
  auto again = CreateAdapter(*NewModel(testing::TinyGpt2()), BottleneckJob(8), 0);
  auto other = CreateAdapter(*NewModel(testing::TinyGpt2()), BottleneckJob(8), 1);
  const std::string key = "base_model.model.transformer.h.1.mlp.c_proj.adapter_down.weight";
  EXPECT_TRUE(torch::equal((*again)->StateDict().at(key), state.at(key)));
  EXPECT_FALSE(torch::equal((*other)->StateDict().at(key), state.at(key)));

  Json cfg = (*adapter)->PeftConfig("tiny");
  EXPECT_EQ(cfg["peft_type"], "BOTTLENECK");
  EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
  EXPECT_EQ(
      cfg["target_modules"],
      Json(std::vector<std::string>{"transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj",
                                    "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_proj"}));
}

TEST(BottleneckTest, ApplyComputesTheResidualMlp) {
  const std::map<std::string, std::function<torch::Tensor(const torch::Tensor&)>> activations = {
      {"relu", [](const torch::Tensor& z) { return z.clamp_min(0); }},
      {"gelu",
       [](const torch::Tensor& z) { return 0.5 * z * (1 + torch::erf(z / std::sqrt(2.0))); }},
      {"tanh", [](const torch::Tensor& z) { return torch::tanh(z); }},
      {"silu", [](const torch::Tensor& z) { return z * torch::sigmoid(z); }},
  };
  for (const auto& [name, act] : activations) {
    auto model = NewModel(testing::TinyLlama());
    jobs::JobSpec job = BottleneckJob(6, name);
    job.bottleneck.scaling = 0.5;
    auto adapter = CreateAdapter(*model, job, 0);
    ASSERT_TRUE(adapter.ok());
    PerturbAdapter(**adapter, 3, 0.5);
    auto state = (*adapter)->StateDict();
    const std::string p = "base_model.model.model.layers.1.mlp.down_proj.";
    LinearModule* down = FindModule(*model, "model.layers.1.mlp.down_proj");
    ASSERT_NE(down, nullptr);
    torch::Tensor x = torch::randn({3, 40});
    torch::Tensor h = torch::linear(x, down->weight, down->bias);
    torch::Tensor z = torch::matmul(h, state.at(p + "adapter_down.weight").t()) +
                      state.at(p + "adapter_down.bias");
    torch::Tensor expected =
        h + 0.5 * (torch::matmul(act(z), state.at(p + "adapter_up.weight").t()) +
                   state.at(p + "adapter_up.bias"));
    torch::Tensor got = (*adapter)->Apply(*down, x, h.clone());
    EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6)) << name;
    // A module that is not an output projection passes through.
    LinearModule* q = FindModule(*model, "model.layers.1.self_attn.q_proj");
    torch::Tensor qx = torch::linear(torch::randn({3, 16}), q->weight);
    EXPECT_TRUE(torch::equal((*adapter)->Apply(*q, x, qx), qx));
  }
}

TEST(BottleneckTest, OnlyAdapterTensorsReceiveGradients) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama()}) {
    auto model = NewModel(config);
    auto adapter = CreateAdapter(*model, BottleneckJob(), 0);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(*model, adapter->get());
    PerturbAdapter(**adapter, 4, 0.3);  // up starts at zero: nothing before it would learn
    torch::Tensor ids = SampleIds(2, 8, 50);
    CausalLmLoss(model->Forward(ids), ids).backward();
    for (const torch::Tensor& t : model->BaseParameters()) EXPECT_FALSE(t.grad().defined());
    auto params = (*adapter)->Parameters();
    ASSERT_EQ(params.size(), 16u);
    for (const torch::Tensor& t : params) {
      ASSERT_TRUE(t.grad().defined());
      EXPECT_GT(t.grad().abs().sum().item<double>(), 0) << config.model_type;
    }
  }
}

TEST(BottleneckTest, AfterFeedForwardAdaptsOnlyTheFeedForwardProjections) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama()}) {
    auto model = NewModel(config);
    auto adapter = CreateAdapter(*model, BottleneckJob(8, "relu", {"feed_forward"}), 0);
    ASSERT_TRUE(adapter.ok());
    const std::string ffn = config.arch == Architecture::kGpt2 ? ".mlp.c_proj" : ".mlp.down_proj";
    auto state = (*adapter)->StateDict();
    EXPECT_EQ(state.size(), 8u) << config.model_type;
    for (const auto& [key, t] : state) {
      EXPECT_NE(key.find(ffn + ".adapter_"), std::string::npos) << key;
    }
    EXPECT_EQ((*adapter)->PeftConfig("b")["after"], Json(std::vector<std::string>{"feed_forward"}));
    auto attention = CreateAdapter(*NewModel(config), BottleneckJob(8, "relu", {"attention"}), 0);
    ASSERT_TRUE(attention.ok());
    const std::string attn =
        config.arch == Architecture::kGpt2 ? ".attn.c_proj" : ".self_attn.o_proj";
    for (const auto& [key, t] : (*attention)->StateDict()) {
      EXPECT_NE(key.find(attn + ".adapter_"), std::string::npos) << key;
    }
  }
}

TEST(BottleneckTest, DropoutActsOnlyWhileTraining) {
  auto model = NewModel(testing::TinyGpt2());
  jobs::JobSpec job = BottleneckJob();
  job.bottleneck.dropout = 0.5;
  auto adapter = CreateAdapter(*model, job, 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(*model, adapter->get());
  PerturbAdapter(**adapter, 2, 0.5);
  torch::Tensor ids = SampleIds(2, 8, 50);
  torch::Tensor eval = model->Forward(ids);
  EXPECT_TRUE(torch::equal(eval, model->Forward(ids)));
  (*adapter)->SetTraining(true);
  EXPECT_FALSE(torch::allclose(eval, model->Forward(ids)));
  (*adapter)->SetTraining(false);
  EXPECT_TRUE(torch::equal(eval, model->Forward(ids)));
}

TEST(BottleneckTest, LossFallsOnTheBundledModelAndData) {
  auto model = LoadCausalLm(testing::kRepoRoot + "/examples/models/tiny-gpt2");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  jobs::JobSpec job;
  job.method = jobs::Method::kBottleneck;  // the defaults: size 64 after attention and feed-forward
  auto adapter = CreateAdapter(**model, job, 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(**model, adapter->get());
  // 4 layers x 2 sublayers x (64·192 + 64 + 192·64 + 192).
  EXPECT_EQ((*adapter)->NumTrainable(), 8 * (64 * 192 + 64 + 192 * 64 + 192));
  RecordProperty("trainable", std::to_string((*adapter)->NumTrainable()));
  testing::ExpectLossFalls(**model, **adapter, 1e-2, 0.5);
}

TEST(BottleneckTest, ExportThenImportGivesIdenticalOutputs) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama(true)}) {
    auto model = NewModel(config);
    jobs::JobSpec job = BottleneckJob(8, "gelu", {"feed_forward", "attention"});
    job.bottleneck.dropout = 0.1;
    job.bottleneck.scaling = 2.0;
    auto adapter = CreateAdapter(*model, job, 0);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(*model, adapter->get());
    PerturbAdapter(**adapter, 2, 0.5);
    Json cfg = testing::ExpectExportRoundTrip(config, *model, **adapter,
                                              "bottleneck_export_" + config.model_type);
    EXPECT_EQ(cfg["peft_type"], "BOTTLENECK");
    EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
    EXPECT_EQ(cfg["inference_mode"], true);
    EXPECT_EQ(cfg["size"], 8);
    EXPECT_EQ(cfg["activation"], "gelu");
    EXPECT_EQ(cfg["after"], Json(std::vector<std::string>{"feed_forward", "attention"}));
    EXPECT_EQ(cfg["dropout"], 0.1);
    EXPECT_EQ(cfg["scaling"], 2.0);
    EXPECT_EQ(cfg["target_modules"].size(), 4u);

    auto spec = BottleneckSpecFromConfig(JsonField(cfg, FieldPath()));
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    EXPECT_EQ(spec->size, 8);
    EXPECT_EQ(spec->activation, "gelu");
    EXPECT_EQ(spec->after, (std::vector<std::string>{"feed_forward", "attention"}));
    EXPECT_EQ(spec->dropout, 0.1);
    EXPECT_EQ(spec->scaling, 2.0);
  }
}

TEST(BottleneckTest, LoadingChecksEveryTensorAndSetting) {
  const testing::SavedAdapter saved(testing::TinyGpt2(), BottleneckJob(8), "bottleneck_bad");
  const std::string& weights = saved.weights();

  // A size that disagrees with the stored tensors.
  Json cfg = saved.config();
  cfg["size"] = 4;
  std::string message = saved.LoadErrorWith(cfg);
  EXPECT_NE(message.find(weights + ": tensor 'base_model.model.transformer.h.0.attn.c_proj."
                                   "adapter_down.weight' has shape [8, 16], expected [4, 16] for "
                                   "size=4"),
            std::string::npos)
      << message;
  cfg = saved.config();
  cfg["activation"] = "swish";
  message = saved.LoadErrorWith(cfg);
  EXPECT_NE(message.find("activation: expected one of relu, gelu, tanh, silu, got \"swish\""),
            std::string::npos)
      << message;
  cfg = saved.config();
  cfg["after"] = {"attention", "output"};
  message = saved.LoadErrorWith(cfg);
  EXPECT_NE(message.find("after[1]: expected one of attention, feed_forward"), std::string::npos)
      << message;
  cfg = saved.config();
  cfg["reduction_factor"] = 16;
  message = saved.LoadErrorWith(cfg);
  EXPECT_NE(message.find("reduction_factor: unknown key"), std::string::npos) << message;

  // A tensor of the wrong shape, a missing one, one for a module that is not adapted.
  auto tensors = saved.tensors();
  const std::string up = "base_model.model.transformer.h.1.mlp.c_proj.adapter_up.weight";
  tensors[up] = torch::zeros({16, 4});
  message = saved.LoadErrorWith(tensors);
  EXPECT_NE(message.find(weights + ": tensor '" + up + "' has shape [16, 4], expected [16, 8]"),
            std::string::npos)
      << message;
  tensors = saved.tensors();
  tensors.erase(up);
  message = saved.LoadErrorWith(tensors);
  EXPECT_NE(message.find(weights + ": missing tensor '" + up + "'"), std::string::npos) << message;
  tensors = saved.tensors();
  const std::string stray = "base_model.model.transformer.h.0.attn.c_attn.adapter_up.weight";
  tensors[stray] = torch::zeros({16, 8});
  message = saved.LoadErrorWith(tensors);
  EXPECT_NE(message.find(weights + ": tensor '" + stray +
                         "' does not belong to any targeted module of this model"),
            std::string::npos)
      << message;
}

TEST(BottleneckTest, MergingIsRefused) {
  auto model = NewModel(testing::TinyGpt2());
  auto adapter = CreateAdapter(*model, BottleneckJob(), 0);
  ASSERT_TRUE(adapter.ok());
  PerturbAdapter(**adapter, 1, 0.5);
  auto before = model->StateDict();
  Status merged = (*adapter)->MergeInto(*model);
  ASSERT_FALSE(merged.ok());
  EXPECT_EQ(merged.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(merged.message().find("non-linear"), std::string::npos) << merged.message();
  EXPECT_NE(merged.message().find("load the adapter"), std::string::npos) << merged.message();
  for (const auto& [name, t] : model->StateDict()) EXPECT_TRUE(torch::equal(t, before.at(name)));
}

TEST(BottleneckTest, BadJobSettingsAreRejected) {
  auto model = NewModel(testing::TinyGpt2());
  auto act = CreateAdapter(*model, BottleneckJob(8, "swish"), 0);
  ASSERT_FALSE(act.ok());
  EXPECT_NE(act.status().message().find("job.bottleneck.activation"), std::string::npos)
      << act.status().message();
  auto after = CreateAdapter(*model, BottleneckJob(8, "relu", {"embeddings"}), 0);
  ASSERT_FALSE(after.ok());
  EXPECT_NE(after.status().message().find("job.bottleneck.after"), std::string::npos)
      << after.status().message();
  auto size = CreateAdapter(*model, BottleneckJob(0), 0);
  ASSERT_FALSE(size.ok());
  EXPECT_NE(size.status().message().find("job.bottleneck.size"), std::string::npos);
}

}  // namespace
}  // namespace lf::worker
