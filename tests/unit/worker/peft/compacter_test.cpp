#include "worker/peft/compacter.h"

#include <gtest/gtest.h>

#include "model/test_models.h"
#include "peft/peft_test_util.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::PerturbAdapter;
using testing::SampleIds;

jobs::JobSpec CompacterJob(int64_t size = 8, int64_t phm_dim = 4, int64_t phm_rank = 2,
                           std::vector<std::string> after = {"attention", "feed_forward"}) {
  jobs::JobSpec job;
  job.method = jobs::Method::kCompacter;
  job.compacter.size = size;
  job.compacter.phm_dim = phm_dim;
  job.compacter.phm_rank = phm_rank;
  job.compacter.after = std::move(after);
  return job;
}

LinearModule* FindModule(CausalLm& model, const std::string& name) {
  for (LinearModule* m : model.LinearModules()) {
    if (m->name == name) return m;
  }
  ADD_FAILURE() << "no module " << name;
  return nullptr;
}

// Σ_i kron(rule[i], s[i] @ t[i]), written out with torch::kron.
torch::Tensor KronSum(const torch::Tensor& rule, const torch::Tensor& s, const torch::Tensor& t) {
  torch::Tensor w;
  for (int64_t i = 0; i < rule.size(0); ++i) {
    torch::Tensor term = torch::kron(rule[i], torch::matmul(s[i], t[i]));
    w = w.defined() ? w + term : term;
  }
  return w;
}

TEST(CompacterTest, UntrainedAdapterLeavesTheOutputUnchanged) {
  testing::ExpectUntrainedAdapterChangesNothing(CompacterJob(), 1e-6);
}

TEST(CompacterTest, KeysShapesAndSharedRules) {
  auto model = NewModel(testing::TinyGpt2());  // hidden 16
  auto adapter = CreateAdapter(*model, CompacterJob(8, 4, 2), 0);
  ASSERT_TRUE(adapter.ok());
  auto state = (*adapter)->StateDict();
  // One pair of rules for the whole model, six tensors per adapted module.
  ASSERT_EQ(state.size(), 2u + 4 * 6);
  EXPECT_EQ(state.at("base_model.model.phm_rule.down").sizes().vec(),
            (std::vector<int64_t>{4, 4, 4}));
  EXPECT_EQ(state.at("base_model.model.phm_rule.up").sizes().vec(),
            (std::vector<int64_t>{4, 4, 4}));
  const std::map<std::string, std::vector<int64_t>> per_module = {
      {".adapter_down.phm_s", {4, 4, 2}}, {".adapter_down.phm_t", {4, 2, 2}},
      {".adapter_down.bias", {8}},        {".adapter_up.phm_s", {4, 2, 2}},
      {".adapter_up.phm_t", {4, 2, 4}},   {".adapter_up.bias", {16}}};
  for (const char* module : {"transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj",
                             "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_proj"}) {
    for (const auto& [suffix, shape] : per_module) {
      const std::string key = std::string("base_model.model.") + module + suffix;
      ASSERT_TRUE(state.count(key)) << key;
      EXPECT_EQ(state.at(key).sizes().vec(), shape) << key;
    }
    const std::string key = std::string("base_model.model.") + module;
    EXPECT_TRUE(torch::equal(state.at(key + ".adapter_up.phm_t"), torch::zeros({4, 2, 4})));
    EXPECT_TRUE(torch::equal(state.at(key + ".adapter_up.bias"), torch::zeros({16})));
    EXPECT_TRUE(torch::equal(state.at(key + ".adapter_down.bias"), torch::zeros({8})));
    EXPECT_GT(state.at(key + ".adapter_down.phm_s").abs().sum().item<double>(), 0);
    EXPECT_GT(state.at(key + ".adapter_up.phm_s").abs().sum().item<double>(), 0);
  }
  // The rules start near the cyclic shifts: A_i's row a has its 1 in column (a + i) mod n.
  torch::Tensor rule = state.at("base_model.model.phm_rule.down");
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_LT((rule[i] - torch::eye(4).roll(i, 1)).abs().max().item<double>(), 0.1) << i;
  }
  EXPECT_EQ((*adapter)->NumTrainable(), 2 * 64 + 4 * (32 + 16 + 8 + 16 + 32 + 16));
  Json cfg = (*adapter)->PeftConfig("tiny");
  EXPECT_EQ(cfg["peft_type"], "COMPACTER");
  EXPECT_EQ(cfg["phm_dim"], 4);
  EXPECT_EQ(cfg["phm_rank"], 2);
}

TEST(CompacterTest, ProjectionsAreSumsOfKroneckerProducts) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama()}) {
    auto model = NewModel(config);
    jobs::JobSpec job = CompacterJob(8, 4, 2);
    job.compacter.activation = "tanh";
    job.compacter.scaling = 0.5;
    auto adapter = CreateAdapter(*model, job, 0);
    ASSERT_TRUE(adapter.ok());
    PerturbAdapter(**adapter, 3, 0.5);
    auto state = (*adapter)->StateDict();
    const std::string name = config.arch == Architecture::kGpt2 ? "transformer.h.1.attn.c_proj"
                                                                : "model.layers.1.self_attn.o_proj";
    const std::string p = "base_model.model." + name;
    LinearModule* m = FindModule(*model, name);
    ASSERT_NE(m, nullptr);
    torch::Tensor w_down =
        KronSum(state.at("base_model.model.phm_rule.down"), state.at(p + ".adapter_down.phm_s"),
                state.at(p + ".adapter_down.phm_t"));
    torch::Tensor w_up =
        KronSum(state.at("base_model.model.phm_rule.up"), state.at(p + ".adapter_up.phm_s"),
                state.at(p + ".adapter_up.phm_t"));
    ASSERT_EQ(w_down.sizes().vec(), (std::vector<int64_t>{16, 8}));  // [in, out]
    ASSERT_EQ(w_up.sizes().vec(), (std::vector<int64_t>{8, 16}));
    torch::Tensor x = torch::randn({3, m->in_features()});
    torch::Tensor h = torch::linear(x, m->weight, m->bias);
    torch::Tensor z = torch::tanh(torch::matmul(h, w_down) + state.at(p + ".adapter_down.bias"));
    torch::Tensor expected = h + 0.5 * (torch::matmul(z, w_up) + state.at(p + ".adapter_up.bias"));
    torch::Tensor got = (*adapter)->Apply(*m, x, h.clone());
    EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6))
        << config.model_type << " " << (got - expected).abs().max().item<double>();
  }
}

TEST(CompacterTest, OnlyAdapterTensorsReceiveGradients) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama()}) {
    auto model = NewModel(config);
    auto adapter = CreateAdapter(*model, CompacterJob(), 0);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(*model, adapter->get());
    PerturbAdapter(**adapter, 4, 0.3);  // up starts at zero: nothing before it would learn
    torch::Tensor ids = SampleIds(2, 8, 50);
    CausalLmLoss(model->Forward(ids), ids).backward();
    for (const torch::Tensor& t : model->BaseParameters()) EXPECT_FALSE(t.grad().defined());
    auto params = (*adapter)->Parameters();
    ASSERT_EQ(params.size(), 2u + 4 * 6);
    for (const torch::Tensor& t : params) {
      ASSERT_TRUE(t.grad().defined());
      EXPECT_GT(t.grad().abs().sum().item<double>(), 0) << config.model_type;
    }
  }
}

TEST(CompacterTest, AfterFeedForwardAdaptsOnlyTheFeedForwardProjections) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama()}) {
    auto model = NewModel(config);
    auto adapter = CreateAdapter(*model, CompacterJob(8, 4, 1, {"feed_forward"}), 0);
    ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
    const std::string ffn = config.arch == Architecture::kGpt2 ? ".mlp.c_proj" : ".mlp.down_proj";
    auto state = (*adapter)->StateDict();
    EXPECT_EQ(state.size(), 2u + 2 * 6) << config.model_type;
    for (const auto& [key, t] : state) {
      if (key.find("phm_rule") != std::string::npos) continue;
      EXPECT_NE(key.find(ffn + ".adapter_"), std::string::npos) << key;
    }
  }
}

TEST(CompacterTest, LossFallsOnTheBundledModelAndData) {
  auto model = LoadCausalLm(testing::kRepoRoot + "/examples/models/tiny-gpt2");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  jobs::JobSpec job;
  job.method = jobs::Method::kCompacter;  // the defaults: size 64, phm_dim 4, phm_rank 1
  auto adapter = CreateAdapter(**model, job, 0);
  ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
  ScopedHook attached(**model, adapter->get());
  RecordProperty("trainable", std::to_string((*adapter)->NumTrainable()));
  testing::ExpectLossFalls(**model, **adapter, 3e-2, 0.5);
}

TEST(CompacterTest, FarFewerTrainableParametersThanBottleneckAdapters) {
  auto model = LoadCausalLm(testing::kRepoRoot + "/examples/models/tiny-gpt2");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  jobs::JobSpec job;
  job.method = jobs::Method::kCompacter;
  auto compacter = CreateAdapter(**model, job, 0);
  ASSERT_TRUE(compacter.ok());
  const int64_t compacter_count = (*compacter)->NumTrainable();
  job.method = jobs::Method::kBottleneck;
  auto bottleneck = CreateAdapter(**model, job, 0);
  ASSERT_TRUE(bottleneck.ok());
  const int64_t bottleneck_count = (*bottleneck)->NumTrainable();
  // hidden 192, 4 layers x 2 sublayers, size 64, n = 4, rank 1: the rules 2·4³, and per module
  // s and t of both projections (4·48 + 4·16 twice) and the biases (64 + 192).
  EXPECT_EQ(compacter_count, 2 * 64 + 8 * (2 * (4 * 48 + 4 * 16) + 64 + 192));
  EXPECT_EQ(bottleneck_count, 8 * (2 * 64 * 192 + 64 + 192));
  EXPECT_LT(compacter_count * 20, bottleneck_count);
  RecordProperty("compacter", std::to_string(compacter_count));
  RecordProperty("bottleneck", std::to_string(bottleneck_count));
}

TEST(CompacterTest, ExportThenImportGivesIdenticalOutputs) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama(true)}) {
    auto model = NewModel(config);
    jobs::JobSpec job = CompacterJob(8, 2, 3);
    job.compacter.activation = "silu";
    job.compacter.scaling = 4.0;
    auto adapter = CreateAdapter(*model, job, 0);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(*model, adapter->get());
    PerturbAdapter(**adapter, 2, 0.5);
    Json cfg = testing::ExpectExportRoundTrip(config, *model, **adapter,
                                              "compacter_export_" + config.model_type);
    EXPECT_EQ(cfg["peft_type"], "COMPACTER");
    EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
    EXPECT_EQ(cfg["size"], 8);
    EXPECT_EQ(cfg["phm_dim"], 2);
    EXPECT_EQ(cfg["phm_rank"], 3);
    EXPECT_EQ(cfg["activation"], "silu");
    EXPECT_EQ(cfg["scaling"], 4.0);
    EXPECT_EQ(cfg["after"], Json(std::vector<std::string>{"attention", "feed_forward"}));
    EXPECT_EQ(cfg["target_modules"].size(), 4u);
  }
}

TEST(CompacterTest, LoadingChecksEveryTensorAndSetting) {
  const testing::SavedAdapter saved(testing::TinyGpt2(), CompacterJob(8, 4, 2), "compacter_bad");
  const std::string& weights = saved.weights();

  Json cfg = saved.config();
  cfg["phm_dim"] = 2;
  std::string message = saved.LoadErrorWith(cfg);
  EXPECT_NE(message.find(weights + ": tensor 'base_model.model.phm_rule.down' has shape "
                                   "[4, 4, 4], expected [2, 2, 2] for size=8, phm_dim=2, "
                                   "phm_rank=2"),
            std::string::npos)
      << message;
  cfg["phm_dim"] = 3;
  message = saved.LoadErrorWith(cfg);
  EXPECT_NE(message.find("phm_dim: must divide size (8), got 3"), std::string::npos) << message;
  cfg = saved.config();
  cfg.erase("phm_rank");
  message = saved.LoadErrorWith(cfg);
  EXPECT_NE(message.find("phm_rank"), std::string::npos) << message;

  auto tensors = saved.tensors();
  const std::string t = "base_model.model.transformer.h.0.mlp.c_proj.adapter_up.phm_t";
  tensors[t] = torch::zeros({4, 1, 4});
  message = saved.LoadErrorWith(tensors);
  EXPECT_NE(message.find(weights + ": tensor '" + t + "' has shape [4, 1, 4], expected [4, 2, 4]"),
            std::string::npos)
      << message;
  tensors = saved.tensors();
  tensors["base_model.model.phm_rule.middle"] = torch::zeros({4, 4, 4});
  message = saved.LoadErrorWith(tensors);
  EXPECT_NE(message.find(weights + ": tensor 'base_model.model.phm_rule.middle' does not belong"),
            std::string::npos)
      << message;
  tensors = saved.tensors();
  tensors.erase("base_model.model.phm_rule.up");
  message = saved.LoadErrorWith(tensors);
  EXPECT_NE(message.find(weights + ": missing tensor 'base_model.model.phm_rule.up'"),
            std::string::npos)
      << message;
}

TEST(CompacterTest, MergingIsRefused) {
  auto model = NewModel(testing::TinyLlama());
  auto adapter = CreateAdapter(*model, CompacterJob(), 0);
  ASSERT_TRUE(adapter.ok());
  Status merged = (*adapter)->MergeInto(*model);
  ASSERT_FALSE(merged.ok());
  EXPECT_EQ(merged.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(merged.message().find("compacter adapter"), std::string::npos) << merged.message();
  EXPECT_NE(merged.message().find("non-linear"), std::string::npos) << merged.message();
}

TEST(CompacterTest, PhmDimMustDivideTheHiddenAndBottleneckSizes) {
  auto model = NewModel(testing::TinyGpt2());  // hidden 16
  auto hidden = CreateAdapter(*model, CompacterJob(10, 5, 1), 0);
  ASSERT_FALSE(hidden.ok());
  EXPECT_EQ(hidden.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(hidden.status().message().find("job.compacter: the hidden size of this gpt2 model "
                                           "(16, the width of transformer.h.0.attn.c_proj) must "
                                           "be divisible by phm_dim (5)"),
            std::string::npos)
      << hidden.status().message();
  EXPECT_EQ(model->hook(), nullptr);  // nothing attached
  auto size = CreateAdapter(*model, CompacterJob(10, 4, 1), 0);
  ASSERT_FALSE(size.ok());
  EXPECT_NE(size.status().message().find("job.compacter: size (10) must be divisible by "
                                         "phm_dim (4)"),
            std::string::npos)
      << size.status().message();
  auto rank = CreateAdapter(*model, CompacterJob(8, 4, 0), 0);
  ASSERT_FALSE(rank.ok());
  EXPECT_NE(rank.status().message().find("job.compacter.phm_rank"), std::string::npos);
  // phm_dim 8 divides both 16 and 8 (and a Kronecker factor may be 1 x 1).
  EXPECT_TRUE(CreateAdapter(*model, CompacterJob(8, 8, 1), 0).ok());
}

}  // namespace
}  // namespace lf::worker
