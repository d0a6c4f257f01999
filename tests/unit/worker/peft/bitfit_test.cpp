#include "worker/peft/bitfit.h"

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "model/test_models.h"
#include "peft/peft_test_util.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::PerturbAdapter;
using testing::SampleIds;
using testing::TempDir;

jobs::JobSpec BitfitJob() {
  jobs::JobSpec job;
  job.method = jobs::Method::kBitfit;
  job.base_model = "tiny-test-model";
  return job;
}

TEST(BitfitTest, UntrainedAdapterLeavesTheOutputUnchanged) {
  testing::ExpectUntrainedAdapterChangesNothing(BitfitJob(), 0);
}

TEST(BitfitTest, TrainsEveryBiasAndNothingElse) {
  // GPT-2: per layer ln_1, c_attn, attn.c_proj, ln_2, c_fc, mlp.c_proj biases, plus ln_f.
  auto model = NewModel(testing::TinyGpt2());
  auto adapter = CreateAdapter(*model, BitfitJob(), 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(*model, adapter->get());
  auto state = (*adapter)->StateDict();
  EXPECT_EQ(state.size(), 2u * 6 + 1);
  EXPECT_TRUE(state.count("base_model.model.transformer.h.0.attn.c_attn.bias"));
  EXPECT_TRUE(state.count("base_model.model.transformer.h.1.ln_2.bias"));
  EXPECT_TRUE(state.count("base_model.model.transformer.ln_f.bias"));
  const int64_t per_layer = 16 + 48 + 16 + 16 + 64 + 16;
  EXPECT_EQ((*adapter)->NumTrainable(), 2 * per_layer + 16);

  torch::Tensor ids = SampleIds(2, 8, 50);
  CausalLmLoss(model->Forward(ids), ids).backward();
  std::set<const void*> biases;
  for (const torch::Tensor& t : (*adapter)->Parameters()) {
    ASSERT_TRUE(t.grad().defined());
    EXPECT_GT(t.grad().abs().sum().item<double>(), 0);
    biases.insert(t.unsafeGetTensorImpl());
  }
  int64_t frozen = 0;
  for (const auto& [name, t] : model->StateDict()) {
    if (biases.count(t.unsafeGetTensorImpl())) continue;
    EXPECT_FALSE(t.grad().defined()) << name;
    ++frozen;
  }
  EXPECT_GT(frozen, 0);

  // Qwen2 has q/k/v biases only: those train.
  auto qwen = NewModel(testing::TinyLlama(true));
  auto q = CreateAdapter(*qwen, BitfitJob(), 0);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)->StateDict().size(), 2u * 3);
}

TEST(BitfitTest, ABiasFreeModelIsAnErrorSayingWhy) {
  auto model = NewModel(testing::TinyLlama());
  auto adapter = CreateAdapter(*model, BitfitJob(), 0);
  ASSERT_FALSE(adapter.ok());
  const std::string message = adapter.status().ToString();
  EXPECT_NE(message.find("tiny-test-model"), std::string::npos) << message;
  EXPECT_NE(message.find("llama"), std::string::npos) << message;
  EXPECT_NE(message.find("bias"), std::string::npos) << message;
}

TEST(BitfitTest, LossFallsOnTheBundledModelAndData) {
  auto model = LoadCausalLm(testing::kRepoRoot + "/examples/models/tiny-gpt2");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto adapter = CreateAdapter(**model, BitfitJob(), 0);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(**model, adapter->get());
  testing::ExpectLossFalls(**model, **adapter, 3e-2, 0.7);
}

TEST(BitfitTest, ExportThenImportGivesIdenticalOutputs) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama(true)}) {
    auto model = NewModel(config);
    auto adapter = CreateAdapter(*model, BitfitJob(), 0);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(*model, adapter->get());
    torch::Tensor ids = SampleIds(2, 6, 50);
    torch::Tensor base = model->Forward(ids);
    PerturbAdapter(**adapter, 2, 0.5);
    torch::Tensor with_adapter = model->Forward(ids);
    EXPECT_FALSE(torch::allclose(base, with_adapter));
    std::string dir = TempDir("bitfit_export_" + config.model_type);
    ASSERT_TRUE(SaveAdapter(**adapter, dir, "tiny-base").ok());
    Json cfg = Json::parse(*ReadFileToString(dir + "/adapter_config.json"));
    EXPECT_EQ(cfg["peft_type"], "BITFIT");
    EXPECT_EQ(cfg["base_model_name_or_path"], "tiny-base");
    EXPECT_EQ(cfg["bias_names"].size(), (*adapter)->StateDict().size());

    auto fresh = NewModel(config);
    auto loaded = LoadAdapter(*fresh, dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    ScopedHook loaded_attached(*fresh, loaded->get());
    EXPECT_EQ((*loaded)->method(), jobs::Method::kBitfit);
    EXPECT_TRUE(torch::equal(with_adapter, fresh->Forward(ids))) << config.model_type;

    // Merging into a third, untouched model gives it the trained biases.
    auto other = NewModel(config);
    ASSERT_TRUE((*loaded)->MergeInto(*other).ok());
    EXPECT_TRUE(torch::equal(with_adapter, other->Forward(ids))) << config.model_type;
  }
}

TEST(BitfitTest, ImportRefusesABiasTheModelDoesNotHave) {
  auto model = NewModel(testing::TinyGpt2());
  auto adapter = CreateAdapter(*model, BitfitJob(), 0);
  ASSERT_TRUE(adapter.ok());
  std::string dir = TempDir("bitfit_wrong_base");
  ASSERT_TRUE(SaveAdapter(**adapter, dir, "tiny-base").ok());
  auto qwen = NewModel(testing::TinyLlama(true));
  auto loaded = LoadAdapter(*qwen, dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().ToString().find("transformer.h.0"), std::string::npos)
      << loaded.status().ToString();
}

}  // namespace
}  // namespace lf::worker
