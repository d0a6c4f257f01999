// Hugging Face compatibility without Python: models saved by transformers and adapters saved by
// PEFT (tests/unit/worker/testdata/hf, written by make_hf_fixtures.py) must give the logits
// transformers and PEFT gave, and our export must use PEFT's keys, shapes and config fields.
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/safetensors.h"
#include "model/test_models.h"
#include "worker/model/tensor_io.h"
#include "worker/peft/lora.h"

namespace lf::worker {
namespace {

std::string Fixture(const std::string& name) {
  return std::string(LF_TEST_SRCDIR) + "/testdata/hf/" + name;
}

class HfFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(HfFixtureTest, LogitsMatchTransformersAndPeft) {
  const std::string dir = Fixture(GetParam());
  auto expected = safetensors::File::Open(dir + "/expected.safetensors");
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  torch::Tensor ids = *LoadTensor(*expected, "input_ids");
  auto model = LoadCausalLm(dir + "/base");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  torch::Tensor base = (*model)->Forward(ids)[0];
  const double base_diff =
      (base - *LoadTensor(*expected, "base_logits")).abs().max().item<double>();
  RecordProperty("max_base_logit_diff", std::to_string(base_diff));
  EXPECT_TRUE(torch::allclose(base, *LoadTensor(*expected, "base_logits"), 1e-4, 1e-4))
      << base_diff;
  auto adapter = LoadAdapter(**model, dir + "/adapter");
  ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
  ScopedHook attached(**model, adapter->get());
  torch::Tensor adapted = (*model)->Forward(ids)[0];
  torch::Tensor want = *LoadTensor(*expected, "adapter_logits");
  const double adapter_diff = (adapted - want).abs().max().item<double>();
  RecordProperty("max_adapter_logit_diff", std::to_string(adapter_diff));
  EXPECT_TRUE(torch::allclose(adapted, want, 1e-4, 1e-4)) << adapter_diff;
  EXPECT_GT((adapted - base).abs().max().item<double>(), 1e-2);  // the adapter does something
}

TEST_P(HfFixtureTest, ExportUsesPeftsKeysShapesAndConfigFields) {
  const std::string dir = Fixture(GetParam());
  auto model = LoadCausalLm(dir + "/base");
  ASSERT_TRUE(model.ok());
  Json peft_config = Json::parse(*ReadFileToString(dir + "/adapter/adapter_config.json"));
  jobs::JobSpec job;
  job.lora.r = peft_config["r"];
  job.lora.alpha = peft_config["lora_alpha"];
  job.lora.target_modules = peft_config["target_modules"].get<std::vector<std::string>>();
  auto ours = CreateAdapter(**model, job, 0);
  ASSERT_TRUE(ours.ok());
  const std::string out = testing::TempDir("hf_export_" + GetParam());
  ASSERT_TRUE(SaveAdapter(**ours, out, "base").ok());

  auto theirs_file = safetensors::File::Open(dir + "/adapter/adapter_model.safetensors");
  auto ours_file = safetensors::File::Open(out + "/adapter_model.safetensors");
  ASSERT_TRUE(theirs_file.ok() && ours_file.ok());
  ASSERT_EQ(ours_file->tensors().size(), theirs_file->tensors().size());
  for (size_t i = 0; i < ours_file->tensors().size(); ++i) {
    const auto& a = ours_file->tensors()[i];
    const auto& b = theirs_file->tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape) << a.name;
    EXPECT_EQ(a.dtype, b.dtype) << a.name;
  }
  EXPECT_EQ(ours_file->metadata(), theirs_file->metadata());
  // Every field PEFT itself relies on, with the same value.
  Json ours_config = Json::parse(*ReadFileToString(out + "/adapter_config.json"));
  for (const char* key : {"peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "bias",
                          "fan_in_fan_out", "use_rslora", "use_dora", "layers_to_transform",
                          "modules_to_save", "inference_mode"}) {
    EXPECT_EQ(ours_config[key], peft_config[key]) << key;
  }
  auto targets = peft_config["target_modules"].get<std::vector<std::string>>();
  auto our_targets = ours_config["target_modules"].get<std::vector<std::string>>();
  std::sort(targets.begin(), targets.end());
  std::sort(our_targets.begin(), our_targets.end());
  EXPECT_EQ(our_targets, targets);
  // Fixtures made with PEFT's default targets: ours are the same for that model_type.
  const bool peft_defaults =
      GetParam() != "gpt2" && GetParam() != "llama" && GetParam().rfind("phi3", 0) != 0;
  if (peft_defaults) {
    auto defaults = DefaultLoraTargets((*model)->config());
    std::sort(defaults.begin(), defaults.end());
    EXPECT_EQ(defaults, targets);
  }
}

// A loaded model saved again writes transformers' own config.json back (so transformers loads a
// merged model), weights that load to the same logits, and as many parameters as transformers
// counts.
TEST_P(HfFixtureTest, SavedAgainKeepsConfigAndParameterCount) {
  const std::string dir = Fixture(GetParam());
  auto model = LoadCausalLm(dir + "/base");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Json versions = Json::parse(*ReadFileToString(dir + "/versions.json"));
  if (versions.contains("num_parameters")) {
    EXPECT_EQ((*model)->config().NumParameters(), versions["num_parameters"].get<int64_t>());
    EXPECT_EQ((*model)->NumBaseParameters(), versions["num_parameters"].get<int64_t>());
  }
  const std::string out = testing::TempDir("hf_resave_" + GetParam());
  ASSERT_TRUE(SaveCausalLm(**model, out).ok());
  Json original = Json::parse(*ReadFileToString(dir + "/base/config.json"));
  Json written = Json::parse(*ReadFileToString(out + "/config.json"));
  if (!original.contains("torch_dtype")) written.erase("torch_dtype");  // added for 4.x readers
  EXPECT_EQ(written, original);
  auto again = LoadCausalLm(out);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto expected = safetensors::File::Open(dir + "/expected.safetensors");
  torch::Tensor ids = *LoadTensor(*expected, "input_ids");
  EXPECT_TRUE(torch::equal((*model)->Forward(ids), (*again)->Forward(ids)));
}

INSTANTIATE_TEST_SUITE_P(Architectures, HfFixtureTest,
                         ::testing::Values("gpt2", "llama", "llama_rope_llama3",
                                           "llama_rope_linear", "llama_rope_dynamic", "qwen2_yarn",
                                           "qwen3", "mistral_sliding", "phi3", "phi3_longrope",
                                           "gemma2", "gemma3", "gemma3_transformers4"));

}  // namespace
}  // namespace lf::worker
