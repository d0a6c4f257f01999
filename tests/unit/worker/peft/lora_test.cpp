#include "worker/peft/lora.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/file_util.h"
#include "common/safetensors.h"
#include "model/test_models.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::SampleIds;
using testing::TempDir;

jobs::JobSpec LoraJob(std::vector<std::string> targets, int64_t r = 4, double alpha = 8) {
  jobs::JobSpec job;
  job.lora.r = r;
  job.lora.alpha = alpha;
  job.lora.target_modules = std::move(targets);
  return job;
}

// B is zero at initialisation; give it values so the adapter changes the output.
void Perturb(Adapter& adapter, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (torch::Tensor& t : adapter.Parameters()) t.add_(torch::randn(t.sizes()) * 0.1);
}

TEST(LoraTest, MatchesTargetsAsPeftDoes) {
  const std::vector<std::string> targets = {"c_attn", "mlp.c_proj"};
  EXPECT_TRUE(MatchesTarget("transformer.h.0.attn.c_attn", targets));
  EXPECT_TRUE(MatchesTarget("transformer.h.3.mlp.c_proj", targets));
  EXPECT_FALSE(MatchesTarget("transformer.h.3.attn.c_proj", targets));
  EXPECT_FALSE(MatchesTarget("transformer.h.0.attn.xc_attn", targets));  // suffix after a dot only
  EXPECT_TRUE(MatchesTarget("c_attn", targets));                       // exact name
}

TEST(LoraTest, UntrainedAdapterLeavesTheOutputExactlyUnchanged) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama(true)}) {
    auto model = NewModel(config);
    torch::Tensor ids = SampleIds(2, 8, config.vocab_size);
    torch::Tensor base = model->Forward(ids);
    auto adapter = CreateAdapter(*model, LoraJob({}), 5);
    ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
    ScopedHook attached(*model, adapter->get());
    EXPECT_TRUE(torch::equal(base, model->Forward(ids))) << config.model_type;
  }
}

TEST(LoraTest, ShapesKeysAndCountsFollowPeft) {
  auto model = NewModel(testing::TinyLlama());
  jobs::JobSpec job = LoraJob({"q_proj", "v_proj", "down_proj"}, 4);
  job.lora.layers_to_transform = {1};
  auto adapter = CreateAdapter(*model, job, 0);
  ASSERT_TRUE(adapter.ok());
  auto state = (*adapter)->StateDict();
  // Keys and shapes PEFT writes for LlamaForCausalLM (no adapter name, base_model.model. prefix).
  const std::map<std::string, std::vector<int64_t>> expected = {
      {"base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", {4, 16}},
      {"base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight", {16, 4}},
      {"base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight", {4, 16}},
      {"base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight", {8, 4}},
      {"base_model.model.model.layers.1.mlp.down_proj.lora_A.weight", {4, 40}},
      {"base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", {16, 4}},
  };
  ASSERT_EQ(state.size(), expected.size());
  for (const auto& [key, shape] : expected) {
    ASSERT_TRUE(state.count(key)) << key;
    EXPECT_EQ(state[key].sizes().vec(), shape) << key;
  }
  EXPECT_EQ((*adapter)->NumTrainable(), 4 * 16 + 16 * 4 + 4 * 16 + 8 * 4 + 4 * 40 + 16 * 4);
  // Kaiming-uniform(a=sqrt(5)) bound for A is 1/sqrt(in); B starts at zero.
  torch::Tensor a = state["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"];
  EXPECT_LE(a.abs().max().item<double>(), 1.0 / std::sqrt(40.0));
  EXPECT_GT(a.abs().max().item<double>(), 0.5 / std::sqrt(40.0));
  EXPECT_EQ(state["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"].abs().sum().item<double>(), 0);

  // GPT-2: Conv1D modules still get A [r, in] and B [out, r].
  auto gpt2 = NewModel(testing::TinyGpt2());
  auto g = CreateAdapter(*gpt2, LoraJob({"c_attn"}, 2), 0);
  ASSERT_TRUE(g.ok());
  auto gs = (*g)->StateDict();
  EXPECT_EQ(gs.at("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight").sizes().vec(),
            (std::vector<int64_t>{2, 16}));
  EXPECT_EQ(gs.at("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight").sizes().vec(),
            (std::vector<int64_t>{48, 2}));
}

TEST(LoraTest, OnlyAdapterTensorsReceiveGradients) {
  auto model = NewModel(testing::TinyGpt2());
  auto adapter = CreateAdapter(*model, LoraJob({"c_attn", "c_fc"}), 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(*model, adapter->get());
  torch::Tensor ids = SampleIds(2, 8, 50);
  CausalLmLoss(model->Forward(ids), ids).backward();
  for (const torch::Tensor& t : model->BaseParameters()) EXPECT_FALSE(t.grad().defined());
  int with_grad = 0;
  for (const torch::Tensor& t : (*adapter)->Parameters()) with_grad += t.grad().defined();
  EXPECT_EQ(with_grad, static_cast<int>((*adapter)->Parameters().size()));
}

TEST(LoraTest, GradientsMatchFiniteDifferences) {
  auto model = NewModel(testing::TinyLlama());
  auto adapter = CreateAdapter(*model, LoraJob({"q_proj", "up_proj"}, 2), 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(*model, adapter->get());
  Perturb(**adapter, 9);
  torch::Tensor ids = SampleIds(1, 6, 50);
  auto loss = [&] { return CausalLmLoss(model->Forward(ids), ids); };
  loss().backward();
  double max_error = 0;
  for (torch::Tensor& p : (*adapter)->Parameters()) {
    torch::Tensor grad = p.grad().clone();
    auto flat = p.view({-1});
    for (int64_t i = 0; i < flat.numel(); i += std::max<int64_t>(1, flat.numel() / 5)) {
      const double eps = 1e-2;
      double plus, minus;
      {
        torch::NoGradGuard no_grad;
        double old = flat[i].item<double>();
        flat[i].fill_(old + eps);
        plus = loss().item<double>();
        flat[i].fill_(old - eps);
        minus = loss().item<double>();
        flat[i].fill_(old);
      }
      const double numeric = (plus - minus) / (2 * eps);
      max_error = std::max(max_error, std::abs(numeric - grad.view({-1})[i].item<double>()));
    }
  }
  EXPECT_LT(max_error, 2e-3);
}

TEST(LoraTest, ScalingIsAlphaOverROrAlphaOverSqrtRWithRsLora) {
  auto model = NewModel(testing::TinyGpt2());
  LinearModule* fc = model->LinearModules()[2];  // transformer.h.0.mlp.c_fc
  ASSERT_EQ(fc->name, "transformer.h.0.mlp.c_fc");
  torch::Tensor x = torch::randn({3, 16});
  torch::Tensor zero = torch::zeros({3, 64});
  jobs::JobSpec plain = LoraJob({"c_fc"}, 4, 8);
  auto a = CreateAdapter(*model, plain, 3);
  Perturb(**a, 4);
  auto state = (*a)->StateDict();
  torch::Tensor A = state.at("base_model.model.transformer.h.0.mlp.c_fc.lora_A.weight");
  torch::Tensor B = state.at("base_model.model.transformer.h.0.mlp.c_fc.lora_B.weight");
  torch::Tensor expected = torch::matmul(torch::matmul(x, A.t()), B.t());
  EXPECT_TRUE(torch::allclose((*a)->Apply(*fc, x, zero.clone()), expected * (8.0 / 4), 1e-5, 1e-6));
  jobs::JobSpec rs = plain;
  rs.lora.rslora = true;
  auto b = CreateAdapter(*model, rs, 3);
  Perturb(**b, 4);
  EXPECT_TRUE(torch::allclose((*b)->Apply(*fc, x, zero.clone()), expected * (8.0 / 2), 1e-5, 1e-6));
  // Modules that are not targeted pass the base output through untouched.
  LinearModule* attn = model->LinearModules()[0];
  torch::Tensor base = torch::randn({3, 48});
  EXPECT_TRUE(torch::equal((*b)->Apply(*attn, x, base), base));
}

TEST(LoraTest, ExportThenImportGivesIdenticalOutputs) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama()}) {
    auto model = NewModel(config);
    auto adapter = CreateAdapter(*model, LoraJob({}, 4, 16), 0);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(*model, adapter->get());
    Perturb(**adapter, 2);
    torch::Tensor ids = SampleIds(2, 6, 50);
    torch::Tensor with_adapter = model->Forward(ids);
    std::string dir = TempDir("lora_export_" + config.model_type);
    ASSERT_TRUE(SaveAdapter(**adapter, dir, "tiny-base").ok());

    auto fresh = NewModel(config);
    auto loaded = LoadAdapter(*fresh, dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    ScopedHook loaded_attached(*fresh, loaded->get());
    EXPECT_TRUE(torch::equal(with_adapter, fresh->Forward(ids))) << config.model_type;

    // adapter_config.json carries what PEFT needs.
    Json cfg = Json::parse(*ReadFileToString(dir + "/adapter_config.json"));
    EXPECT_EQ(cfg["peft_type"], "LORA");
    EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
    EXPECT_EQ(cfg["r"], 4);
    EXPECT_EQ(cfg["lora_alpha"], 16.0);
    EXPECT_EQ(cfg["bias"], "none");
    EXPECT_EQ(cfg["base_model_name_or_path"], "tiny-base");
    EXPECT_EQ(cfg["fan_in_fan_out"], config.arch == Architecture::kGpt2);
    EXPECT_EQ(cfg["target_modules"], Json(DefaultLoraTargets(config)));
    auto file = safetensors::File::Open(dir + "/adapter_model.safetensors");
    ASSERT_TRUE(file.ok());
    EXPECT_EQ(file->metadata().at("format"), "pt");
  }
}

TEST(LoraTest, MergedModelComputesWhatBasePlusAdapterComputes) {
  auto model = NewModel(testing::TinyGpt2());
  auto adapter = CreateAdapter(*model, LoraJob({"c_attn", "c_proj", "c_fc"}), 0);
  ASSERT_TRUE(adapter.ok());
  Perturb(**adapter, 6);
  torch::Tensor ids = SampleIds(2, 9, 50);
  torch::Tensor expected;
  {
    ScopedHook attached(*model, adapter->get());
    expected = model->Forward(ids);
  }
  ASSERT_TRUE((*adapter)->MergeInto(*model).ok());  // the base alone computes it now
  EXPECT_TRUE(torch::allclose(expected, model->Forward(ids), 1e-5, 1e-5));
  // And after a save and load (GPT-2's Conv1D layout written back transposed).
  std::string dir = TempDir("merged");
  ASSERT_TRUE(SaveCausalLm(*model, dir).ok());
  auto loaded = LoadCausalLm(dir);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(torch::allclose(expected, (*loaded)->Forward(ids), 1e-5, 1e-5));
}

TEST(LoraTest, BadSettingsAndFoldersAreRejected) {
  auto model = NewModel(testing::TinyGpt2());
  auto none = CreateAdapter(*model, LoraJob({"q_proj"}), 0);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("job.lora.target_modules: no module"), std::string::npos);
  jobs::JobSpec layers = LoraJob({});
  layers.lora.layers_to_transform = {7};
  EXPECT_NE(CreateAdapter(*model, layers, 0).status().message().find("layer 7 does not exist"),
            std::string::npos);

  auto adapter = CreateAdapter(*model, LoraJob({}, 4), 0);
  std::string dir = TempDir("lora_bad");
  ASSERT_TRUE(SaveAdapter(**adapter, dir, "b").ok());
  // A rank that disagrees with the stored tensors.
  Json cfg = Json::parse(*ReadFileToString(dir + "/adapter_config.json"));
  cfg["r"] = 8;
  ASSERT_TRUE(WriteFileAtomically(dir + "/adapter_config.json", cfg.dump()).ok());
  auto wrong_r = LoadAdapter(*NewModel(testing::TinyGpt2()), dir);
  ASSERT_FALSE(wrong_r.ok());
  EXPECT_NE(wrong_r.status().message().find("expected [8, 16] for r=8"), std::string::npos)
      << wrong_r.status().message();
  cfg["r"] = 4;
  cfg["peft_type"] = "LOHA";
  ASSERT_TRUE(WriteFileAtomically(dir + "/adapter_config.json", cfg.dump()).ok());
  EXPECT_NE(LoadAdapter(*NewModel(testing::TinyGpt2()), dir).status().message().find("LOHA"),
            std::string::npos);
  EXPECT_EQ(LoadAdapter(*model, "/nonexistent").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace lf::worker
