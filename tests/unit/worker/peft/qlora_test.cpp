#include "worker/peft/qlora.h"

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "kernels/nf4.h"
#include "model/test_models.h"
#include "peft/peft_test_util.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::PerturbAdapter;
using testing::SampleIds;
using testing::TempDir;

jobs::JobSpec QloraJob(std::vector<std::string> targets, int64_t r = 4, double alpha = 8) {
  jobs::JobSpec job;
  job.method = jobs::Method::kQlora;
  job.qlora.r = r;
  job.qlora.alpha = alpha;
  job.qlora.target_modules = std::move(targets);
  return job;
}

// What QLoRA's base computes: every linear weight replaced by dequant(quant(W)), densely.
void DequantiseLinears(CausalLm& model, int64_t block_size = 64, bool double_quant = true) {
  torch::NoGradGuard no_grad;
  for (LinearModule* m : model.LinearModules()) {
    auto q = kernels::QuantizeNf4(m->weight, block_size, double_quant);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    m->weight.copy_(kernels::DequantizeNf4(*q));
  }
}

double MaxDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

std::unique_ptr<CausalLm> BundledModel() {
  auto model = LoadCausalLm(testing::kRepoRoot + "/examples/models/tiny-gpt2");
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

TEST(QloraTest, UntrainedOutputIsTheDequantisedBase) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama(true)}) {
    auto model = NewModel(config);
    auto reference = NewModel(config);
    DequantiseLinears(*reference);
    torch::Tensor ids = SampleIds(2, 8, config.vocab_size);
    torch::Tensor full = model->Forward(ids);
    torch::Tensor expected = reference->Forward(ids);
    auto adapter = CreateAdapter(*model, QloraJob({}), 5);
    ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
    ScopedHook attached(*model, adapter->get());
    EXPECT_EQ((*adapter)->method(), jobs::Method::kQlora);
    torch::Tensor out = model->Forward(ids);
    EXPECT_LT(MaxDiff(out, expected), 1e-5) << config.model_type;
    EXPECT_GT(MaxDiff(out, full), 0) << "NF4 is lossy: the output should differ from fp32's";
  }
}

TEST(QloraTest, LossStaysCloseToTheFullPrecisionBase) {
  auto model = BundledModel();
  torch::Tensor ids = testing::MedicalBatch(4, 48);
  const double full = CausalLmLoss(model->Forward(ids), ids).item<double>();
  auto adapter = CreateAdapter(*model, QloraJob({"c_attn", "c_fc"}), 0);
  ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
  ScopedHook attached(*model, adapter->get());
  const double quantised = CausalLmLoss(model->Forward(ids), ids).item<double>();
  RecordProperty("loss_fp32", std::to_string(full));
  RecordProperty("loss_nf4", std::to_string(quantised));
  EXPECT_LT(std::abs(quantised - full) / full, 0.03) << full << " vs " << quantised;
}

TEST(QloraTest, BaseWeightsAreStoredInNf4AndTheDenseOnesFreed) {
  for (bool double_quant : {true, false}) {
    auto model = BundledModel();
    int64_t linear_params = 0;
    for (LinearModule* m : model->LinearModules()) linear_params += m->weight.numel();
    jobs::JobSpec job = QloraJob({"c_attn"});
    job.qlora.double_quant = double_quant;
    auto adapter = CreateAdapter(*model, job, 0);
    ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
    std::optional<QuantizedBase> base = QuantizedBaseOf(**adapter);
    ASSERT_TRUE(base.has_value());
    // Every linear of the transformer blocks, not only the LoRA targets.
    EXPECT_EQ(base->modules, static_cast<int64_t>(model->LinearModules().size()));
    EXPECT_EQ(base->params, linear_params);
    const double per_param = base->bytes_per_param();
    RecordProperty(double_quant ? "bytes_per_param_double_quant" : "bytes_per_param",
                   std::to_string(per_param));
    if (double_quant) {
      // 4 bits + an int8 absmax per 64 + an fp32 scale per 256 blocks (+ one offset per tensor).
      EXPECT_NEAR(per_param, 0.5 + 1.0 / 64 + 4.0 / (64 * 256), 0.002) << per_param;
    } else {
      EXPECT_NEAR(per_param, 0.5 + 4.0 / 64, 1e-9) << per_param;  // 0.5625
    }
    for (LinearModule* m : model->LinearModules()) {
      // Shapes stay (the LoRA tensors and in_features() read them); the storage is one value.
      EXPECT_EQ(m->weight.dim(), 2) << m->name;
      EXPECT_LE(m->weight.storage().nbytes(), m->weight.element_size()) << m->name;
    }
    // The embedding (tied with the LM head) stays dense.
    EXPECT_EQ(model->StateDict().at("transformer.wte.weight").storage().nbytes(),
              257 * 192 * sizeof(float));
  }
  auto lora = CreateAdapter(*NewModel(testing::TinyGpt2()), jobs::JobSpec{}, 0);
  ASSERT_TRUE(lora.ok());
  EXPECT_FALSE(QuantizedBaseOf(**lora).has_value());
}

TEST(QloraTest, OnlyLoraTensorsReceiveGradients) {
  auto model = NewModel(testing::TinyLlama());
  auto adapter = CreateAdapter(*model, QloraJob({"q_proj", "down_proj"}), 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(*model, adapter->get());
  PerturbAdapter(**adapter, 1);  // with B = 0, A's gradient is zero
  torch::Tensor ids = SampleIds(2, 8, 50);
  CausalLmLoss(model->Forward(ids), ids).backward();
  for (const torch::Tensor& t : model->BaseParameters()) EXPECT_FALSE(t.grad().defined());
  auto params = (*adapter)->Parameters();
  ASSERT_EQ(params.size(), 2u * 2u * 2u);  // 2 layers x 2 modules x (A, B)
  for (const torch::Tensor& t : params) {
    ASSERT_TRUE(t.grad().defined());
    EXPECT_GT(t.grad().abs().sum().item<double>(), 0);
  }
}

TEST(QloraTest, LossFallsOnTheBundledModelAndData) {
  auto model = BundledModel();
  auto adapter = CreateAdapter(*model, QloraJob({"c_attn", "c_fc"}, 4, 8), 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(*model, adapter->get());
  testing::ExpectLossFalls(*model, **adapter, 1e-2, 0.5);
}

TEST(QloraTest, ExportsAsLoraAndLoadsOnTheFullPrecisionBase) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama(true)}) {
    auto model = NewModel(config);
    auto adapter = CreateAdapter(*model, QloraJob({}, 4, 16), 0);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(*model, adapter->get());
    PerturbAdapter(**adapter, 2);
    torch::Tensor ids = SampleIds(2, 6, 50);
    torch::Tensor with_adapter = model->Forward(ids);
    std::string dir = TempDir("qlora_export_" + config.model_type);
    ASSERT_TRUE(SaveAdapter(**adapter, dir, "tiny-base").ok());
    Json cfg = Json::parse(*ReadFileToString(dir + "/adapter_config.json"));
    EXPECT_EQ(cfg["peft_type"], "LORA");
    EXPECT_EQ(cfg["use_dora"], false);
    EXPECT_EQ(cfg["r"], 4);
    EXPECT_EQ(cfg["lora_alpha"], 16);
    EXPECT_EQ(cfg["fan_in_fan_out"], config.arch == Architecture::kGpt2);

    // The same keys and shapes a LoRA job with the same settings exports.
    jobs::JobSpec lora_job;
    lora_job.lora = static_cast<const jobs::LoraSpec&>(QloraJob({}, 4, 16).qlora);
    auto lora = CreateAdapter(*NewModel(config), lora_job, 0);
    ASSERT_TRUE(lora.ok());
    auto state = (*adapter)->StateDict(), lora_state = (*lora)->StateDict();
    ASSERT_EQ(state.size(), lora_state.size());
    for (const auto& [key, t] : lora_state) {
      ASSERT_TRUE(state.count(key)) << key;
      EXPECT_EQ(state[key].sizes(), t.sizes()) << key;
    }

    // On the full-precision base it is a plain LoRA adapter ...
    auto fresh = NewModel(config);
    auto loaded = LoadAdapter(*fresh, dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    ScopedHook loaded_attached(*fresh, loaded->get());
    EXPECT_EQ((*loaded)->method(), jobs::Method::kLora);
    // ... and on the dequantised base it computes exactly what QLoRA computed.
    auto dequantised = NewModel(config);
    DequantiseLinears(*dequantised);
    auto on_dequantised = LoadAdapter(*dequantised, dir);
    ASSERT_TRUE(on_dequantised.ok());
    ScopedHook on_dequantised_attached(*dequantised, on_dequantised->get());
    EXPECT_LT(MaxDiff(dequantised->Forward(ids), with_adapter), 1e-5) << config.model_type;
    EXPECT_LT(MaxDiff(fresh->Forward(ids), with_adapter), 0.5) << config.model_type;
  }
}

TEST(QloraTest, MergingGivesTheDequantisedBasePlusTheUpdate) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama(true)}) {
    auto model = NewModel(config);
    auto adapter = CreateAdapter(*model, QloraJob({}), 0);
    ASSERT_TRUE(adapter.ok());
    PerturbAdapter(**adapter, 6);
    torch::Tensor ids = SampleIds(2, 9, 50);
    torch::Tensor expected;
    {
      ScopedHook attached(*model, adapter->get());
      expected = model->Forward(ids);
    }
    ASSERT_TRUE((*adapter)->MergeInto(*model).ok());  // the dequantised base alone computes it now
    for (LinearModule* m : model->LinearModules()) {
      EXPECT_EQ(m->weight.storage().nbytes(), m->weight.numel() * m->weight.element_size())
          << m->name << " is dense again";
    }
    EXPECT_LT(MaxDiff(model->Forward(ids), expected), 1e-4) << config.model_type;
  }
}

TEST(QloraTest, BadSettingsAreRejectedAndLeaveTheModelAlone) {
  auto model = NewModel(testing::TinyGpt2());
  torch::Tensor ids = SampleIds(2, 5, 50);
  torch::Tensor before = model->Forward(ids);
  auto none = CreateAdapter(*model, QloraJob({"q_proj"}), 0);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("job.qlora.target_modules: no module"), std::string::npos)
      << none.status().message();
  jobs::JobSpec layers = QloraJob({});
  layers.qlora.layers_to_transform = {7};
  EXPECT_NE(CreateAdapter(*model, layers, 0)
                .status()
                .message()
                .find("job.qlora.layers_to_transform: layer 7 does not exist"),
            std::string::npos);
  // c_attn (48x16) divides into blocks of 96, attn.c_proj (16x16) does not.
  jobs::JobSpec blocks = QloraJob({});
  blocks.qlora.block_size = 96;
  auto odd = CreateAdapter(*model, blocks, 0);
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.status().message().find("job.qlora.block_size: transformer.h.0.attn.c_proj has "
                                        "256 weights, not a multiple of 96"),
            std::string::npos)
      << odd.status().message();
  EXPECT_EQ(model->hook(), nullptr);
  EXPECT_TRUE(torch::equal(model->Forward(ids), before));
}

}  // namespace
}  // namespace lf::worker
