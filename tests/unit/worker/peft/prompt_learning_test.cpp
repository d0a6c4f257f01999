// Prompt tuning, P-tuning and prefix tuning: placement of the virtual tokens (checked against the
// base model run on real tokens), gradients, learning, PEFT's export format and round trips.
#include "worker/peft/prompt_learning.h"

#include <cmath>

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

jobs::JobSpec PromptJob(int64_t tokens, std::string init = "random") {
  jobs::JobSpec job;
  job.method = jobs::Method::kPromptTuning;
  job.prompt_tuning = {.num_virtual_tokens = tokens, .init = std::move(init)};
  return job;
}
jobs::JobSpec PTuningJob(int64_t tokens, int64_t hidden = 0) {
  jobs::JobSpec job;
  job.method = jobs::Method::kPTuning;
  job.p_tuning = {.num_virtual_tokens = tokens, .encoder_hidden_size = hidden};
  return job;
}
jobs::JobSpec PrefixJob(int64_t tokens, bool projection = false, int64_t hidden = 0) {
  jobs::JobSpec job;
  job.method = jobs::Method::kPrefixTuning;
  job.prefix_tuning = {.num_virtual_tokens = tokens,
                       .prefix_projection = projection,
                       .encoder_hidden_size = hidden};
  return job;
}

std::vector<ModelConfig> Configs() {
  return {testing::TinyGpt2(), testing::TinyLlama(), testing::TinyLlama(true)};
}

torch::Tensor TokenEmbeddings(const CausalLm& model) {
  const bool gpt2 = model.config().arch == Architecture::kGpt2;
  return model.StateDict().at(gpt2 ? "transformer.wte.weight" : "model.embed_tokens.weight");
}

// Records every linear module's output: what the base computes for some real tokens.
class OutputRecorder final : public ModelHook {
 public:
  torch::Tensor Apply(const LinearModule& m, const torch::Tensor&, torch::Tensor base) override {
    outputs[m.name] = base.detach().clone();
    return base;
  }
  std::map<std::string, torch::Tensor> outputs;
};

torch::Tensor RotateHalf(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

// The prefix table that makes prefix tuning compute what the base computes after the real tokens
// `prefix_ids` [p]: each layer's keys (rotated at positions 0..p-1 for Llama) and values for them,
// laid out as PEFT views prompt_embeddings: [p, layers, 2 (k, v), kv_heads, head_dim].
torch::Tensor PrefixTableFor(CausalLm& model, const torch::Tensor& prefix_ids) {
  const ModelConfig& c = model.config();
  const int64_t p = prefix_ids.size(0), kvh = c.kv_heads, d = c.head_dim;
  OutputRecorder recorder;
  {
    ScopedHook attached(model, &recorder);
    model.Forward(prefix_ids.unsqueeze(0));
  }
  std::vector<torch::Tensor> layers;
  for (int64_t l = 0; l < c.layers; ++l) {
    torch::Tensor k, v;
    if (c.arch == Architecture::kGpt2) {
      torch::Tensor qkv = recorder.outputs.at("transformer.h." + std::to_string(l) + ".attn.c_attn");
      k = qkv[0].slice(-1, c.hidden, 2 * c.hidden).view({p, kvh, d});
      v = qkv[0].slice(-1, 2 * c.hidden).view({p, kvh, d});
    } else {
      const std::string prefix = "model.layers." + std::to_string(l) + ".self_attn.";
      k = recorder.outputs.at(prefix + "k_proj")[0].view({p, kvh, d});
      v = recorder.outputs.at(prefix + "v_proj")[0].view({p, kvh, d});
      torch::Tensor inv_freq =
          1.0 / torch::pow(c.rope_theta, torch::arange(0, d, 2, torch::kFloat32) / double(d));
      torch::Tensor freqs = torch::outer(torch::arange(p, torch::kFloat32), inv_freq);
      torch::Tensor emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);  // [p, 1, d]
      k = k * emb.cos() + RotateHalf(k) * emb.sin();
    }
    layers.push_back(torch::stack({k, v}, 1));  // [p, 2, kvh, d]
  }
  return torch::stack(layers, 1).reshape({p, -1});
}

TEST(PromptTuningTest, SoftPromptOfTokenEmbeddingsEqualsThoseTokensBeforeTheSequence) {
  for (const ModelConfig& config : Configs()) {
    auto model = NewModel(config);
    torch::Tensor prefix_ids = SampleIds(1, 3, config.vocab_size, 7)[0];
    torch::Tensor ids = SampleIds(2, 6, config.vocab_size);
    torch::Tensor expected =
        model->Forward(torch::cat({prefix_ids.unsqueeze(0).expand({2, -1}), ids}, 1)).slice(1, 3);
    auto adapter = CreateAdapter(*model, PromptJob(3), 0);
    ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
    ScopedHook attached(*model, adapter->get());
    EXPECT_EQ((*adapter)->method(), jobs::Method::kPromptTuning);
    EXPECT_EQ(model->VirtualTokens(), 3);
    torch::Tensor prompt = TokenEmbeddings(*model).index_select(0, prefix_ids);
    ASSERT_TRUE((*adapter)->LoadStateDict({{"prompt_embeddings", prompt}}, "test").ok());
    torch::Tensor got = model->Forward(ids);
    ASSERT_EQ(got.sizes(), expected.sizes());  // logits for the real tokens only
    EXPECT_LT((got - expected).abs().max().item<double>(), 1e-5) << config.model_type;
  }
}

TEST(PrefixTuningTest, PrefixOfRealKeysAndValuesEqualsThoseTokensBeforeTheSequence) {
  // Checks the table layout (layers, keys before values, kv heads), the mask (every position
  // sees the whole prefix, causal after it) and the positions that follow the prefix.
  for (const ModelConfig& config : Configs()) {
    auto model = NewModel(config);
    torch::Tensor prefix_ids = SampleIds(1, 4, config.vocab_size, 9)[0];
    torch::Tensor ids = SampleIds(2, 5, config.vocab_size);
    torch::Tensor expected =
        model->Forward(torch::cat({prefix_ids.unsqueeze(0).expand({2, -1}), ids}, 1)).slice(1, 4);
    torch::Tensor table = PrefixTableFor(*model, prefix_ids);
    auto adapter = CreateAdapter(*model, PrefixJob(4), 0);
    ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
    ScopedHook attached(*model, adapter->get());
    EXPECT_EQ(model->VirtualTokens(), 4);
    ASSERT_TRUE((*adapter)->LoadStateDict({{"prompt_embeddings", table}}, "test").ok());
    torch::Tensor got = model->Forward(ids);
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_LT((got - expected).abs().max().item<double>(), 1e-5) << config.model_type;
  }
}

TEST(PromptLearningTest, ExportKeysShapesAndConfigsFollowPeft) {
  // What PEFT 0.21 writes for the same tiny models (GPT-2: 16 wide, 2 heads, 2 layers; Llama: 16
  // wide, 4 heads, 2 kv heads of 4).
  struct Case {
    ModelConfig config;
    jobs::JobSpec job;
    std::string peft_type;
    std::vector<int64_t> shape;
    int64_t heads, token_dim;
  };
  const std::vector<Case> cases = {
      {testing::TinyGpt2(), PromptJob(3), "PROMPT_TUNING", {3, 16}, 2, 16},
      {testing::TinyGpt2(), PTuningJob(3, 8), "P_TUNING", {3, 16}, 2, 16},
      {testing::TinyGpt2(), PrefixJob(3), "PREFIX_TUNING", {3, 64}, 2, 16},
      {testing::TinyGpt2(), PrefixJob(3, true, 8), "PREFIX_TUNING", {3, 64}, 2, 16},
      {testing::TinyLlama(), PromptJob(3), "PROMPT_TUNING", {3, 16}, 4, 16},
      {testing::TinyLlama(), PTuningJob(3, 8), "P_TUNING", {3, 16}, 4, 16},
      {testing::TinyLlama(), PrefixJob(3), "PREFIX_TUNING", {3, 32}, 2, 8},
      {testing::TinyLlama(), PrefixJob(3, true, 8), "PREFIX_TUNING", {3, 32}, 2, 8},
  };
  for (const Case& c : cases) {
    auto model = NewModel(c.config);
    auto adapter = CreateAdapter(*model, c.job, 0);
    ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
    auto state = (*adapter)->StateDict();
    ASSERT_EQ(state.size(), 1u);
    EXPECT_EQ(state.at("prompt_embeddings").sizes().vec(), c.shape) << c.peft_type;
    Json cfg = (*adapter)->PeftConfig("tiny");
    EXPECT_EQ(cfg["peft_type"], c.peft_type);
    EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
    EXPECT_EQ(cfg["num_virtual_tokens"], 3);
    EXPECT_EQ(cfg["num_layers"], 2);
    EXPECT_EQ(cfg["num_transformer_submodules"], 1);
    EXPECT_EQ(cfg["num_attention_heads"], c.heads) << c.peft_type << " " << c.config.model_type;
    EXPECT_EQ(cfg["token_dim"], c.token_dim) << c.peft_type << " " << c.config.model_type;
    EXPECT_EQ(cfg["base_model_name_or_path"], "tiny");
  }
  auto model = NewModel(testing::TinyGpt2());
  Json p = (*CreateAdapter(*model, PTuningJob(3, 8), 0))->PeftConfig("b");
  EXPECT_EQ(p["encoder_reparameterization_type"], "MLP");
  EXPECT_EQ(p["encoder_hidden_size"], 8);
  EXPECT_EQ(p["encoder_num_layers"], 2);
  Json prefix = (*CreateAdapter(*model, PrefixJob(3, true, 8), 0))->PeftConfig("b");
  EXPECT_EQ(prefix["prefix_projection"], true);
  EXPECT_EQ(prefix["encoder_hidden_size"], 8);
  // PEFT's default encoder width is the token dimension.
  EXPECT_EQ((*CreateAdapter(*model, PrefixJob(3), 0))->PeftConfig("b")["encoder_hidden_size"], 16);
  EXPECT_EQ((*CreateAdapter(*model, PromptJob(3), 0))->PeftConfig("b")["prompt_tuning_init"],
            "RANDOM");
}

TEST(PromptLearningTest, TrainableParametersAndGradientsAreTheAdaptersOnly) {
  struct Case {
    jobs::JobSpec job;
    int64_t trainable;  // on tiny GPT-2: 16 wide, 2 layers
  };
  const std::vector<Case> cases = {
      {PromptJob(3), 3 * 16},
      {PTuningJob(3, 8), 3 * 16 + (16 * 8 + 8) + (8 * 8 + 8) + (8 * 16 + 16)},
      {PrefixJob(3), 3 * 64},
      {PrefixJob(3, true, 8), 3 * 16 + (16 * 8 + 8) + (8 * 64 + 64)},
  };
  for (const Case& c : cases) {
    auto model = NewModel(testing::TinyGpt2());
    auto adapter = CreateAdapter(*model, c.job, 0);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(*model, adapter->get());
    EXPECT_EQ((*adapter)->NumTrainable(), c.trainable) << c.job.method;
    torch::Tensor ids = SampleIds(2, 8, 50);
    CausalLmLoss(model->Forward(ids), ids).backward();
    for (const torch::Tensor& t : model->BaseParameters()) EXPECT_FALSE(t.grad().defined());
    for (const torch::Tensor& t : (*adapter)->Parameters()) {
      ASSERT_TRUE(t.grad().defined()) << c.job.method;
      EXPECT_GT(t.grad().abs().sum().item<double>(), 0) << c.job.method;
    }
  }
}

TEST(PromptLearningTest, SampleVocabStartsFromTokenEmbeddings) {
  auto model = NewModel(testing::TinyLlama());
  auto adapter = CreateAdapter(*model, PromptJob(5, "sample_vocab"), 3);
  ASSERT_TRUE(adapter.ok());
  torch::Tensor prompt = (*adapter)->StateDict().at("prompt_embeddings");
  torch::Tensor vocab = TokenEmbeddings(*model);
  for (int64_t i = 0; i < 5; ++i) {
    // Every row is some token's embedding.
    EXPECT_LT((vocab - prompt[i]).abs().sum(-1).min().item<double>(), 1e-7) << i;
  }
}

TEST(PromptLearningTest, LossFallsOnTheBundledModelAndData) {
  for (const jobs::JobSpec& job :
       {PromptJob(8, "sample_vocab"), PTuningJob(8), PrefixJob(8), PrefixJob(8, true, 64)}) {
    auto model = LoadCausalLm(testing::kRepoRoot + "/examples/models/tiny-gpt2");
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    auto adapter = CreateAdapter(**model, job, 0);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(**model, adapter->get());
    testing::ExpectLossFalls(**model, **adapter, 3e-2, 0.8, std::string(jobs::MethodName(job.method)) + "_");
  }
}

TEST(PromptLearningTest, ExportThenImportGivesIdenticalOutputs) {
  // P-tuning and projected prefixes export the encoder's output; the folder loads in PEFT's
  // inference form and computes the same.
  for (const ModelConfig& config : Configs()) {
    for (const jobs::JobSpec& job : {PromptJob(3), PTuningJob(3, 8), PrefixJob(3), PrefixJob(3, true, 8)}) {
      const std::string what = config.model_type + " " + std::string(jobs::MethodName(job.method));
      auto model = NewModel(config);
      auto adapter = CreateAdapter(*model, job, 4);
      ASSERT_TRUE(adapter.ok()) << what;
      ScopedHook attached(*model, adapter->get());
      PerturbAdapter(**adapter, 2, 0.3);
      torch::Tensor ids = SampleIds(2, 6, config.vocab_size);
      torch::Tensor with_adapter = model->Forward(ids);
      std::string dir = TempDir("prompt_export_" + config.model_type + "_" + std::string(jobs::MethodName(job.method)));
      ASSERT_TRUE(SaveAdapter(**adapter, dir, "tiny-base").ok()) << what;
      auto fresh = NewModel(config);
      auto loaded = LoadAdapter(*fresh, dir);
      ASSERT_TRUE(loaded.ok()) << what << ": " << loaded.status().ToString();
      ScopedHook loaded_attached(*fresh, loaded->get());
      EXPECT_EQ((*loaded)->method(), job.method);
      EXPECT_LT((fresh->Forward(ids) - with_adapter).abs().max().item<double>(), 1e-6) << what;
      // Saving the loaded adapter again writes the same config.
      std::string again = TempDir("prompt_export_again_" + config.model_type + "_" + std::string(jobs::MethodName(job.method)));
      ASSERT_TRUE(SaveAdapter(**loaded, again, "tiny-base").ok());
      EXPECT_EQ(*ReadFileToString(again + "/adapter_config.json"),
                *ReadFileToString(dir + "/adapter_config.json"))
          << what;
    }
  }
}

TEST(PromptLearningTest, CheckpointStateKeepsTheEncoder) {
  for (const jobs::JobSpec& job : {PTuningJob(3, 8), PrefixJob(3, true, 8), PromptJob(3)}) {
    auto model = NewModel(testing::TinyGpt2());
    auto adapter = CreateAdapter(*model, job, 1);
    ASSERT_TRUE(adapter.ok());
    ScopedHook attached(*model, adapter->get());
    PerturbAdapter(**adapter, 5, 0.3);
    torch::Tensor ids = SampleIds(2, 6, 50);
    torch::Tensor expected = model->Forward(ids);
    auto state = (*adapter)->TrainingState();
    EXPECT_EQ(state.size(), (*adapter)->Parameters().size()) << job.method;

    auto other_model = NewModel(testing::TinyGpt2());
    auto other = CreateAdapter(*other_model, job, 2);  // another initialisation
    ASSERT_TRUE(other.ok());
    ScopedHook other_attached(*other_model, other->get());
    ASSERT_TRUE((*other)->LoadTrainingState(state, "ckpt").ok()) << job.method;
    EXPECT_TRUE(torch::equal(other_model->Forward(ids), expected)) << job.method;
    state.erase(state.begin());
    EXPECT_FALSE((*other)->LoadTrainingState(state, "ckpt").ok()) << job.method;
  }
}

TEST(PromptLearningTest, MergeAndMismatchedFoldersAreRefused) {
  auto model = NewModel(testing::TinyGpt2());
  for (const jobs::JobSpec& job : {PromptJob(2), PTuningJob(2), PrefixJob(2)}) {
    auto adapter = CreateAdapter(*model, job, 0);
    ASSERT_TRUE(adapter.ok());
    Status merged = (*adapter)->MergeInto(*model);
    EXPECT_FALSE(merged.ok());
    EXPECT_NE(merged.message().find("cannot be folded into the base weights"), std::string::npos)
        << merged.message();
  }
  // A GPT-2 prefix folder does not fit a Llama base.
  auto adapter = CreateAdapter(*model, PrefixJob(2), 0);
  std::string dir = TempDir("prompt_mismatch");
  ASSERT_TRUE(SaveAdapter(**adapter, dir, "gpt2").ok());
  auto wrong = LoadAdapter(*NewModel(testing::TinyLlama()), dir);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("token_dim: is 16 but this llama model needs 8"),
            std::string::npos)
      << wrong.status().message();
  // Encoder-decoder prompts (two transformer submodules) are not for a causal LM.
  Json cfg = Json::parse(*ReadFileToString(dir + "/adapter_config.json"));
  cfg["num_transformer_submodules"] = 2;
  ASSERT_TRUE(WriteFileAtomically(dir + "/adapter_config.json", cfg.dump()).ok());
  auto two = LoadAdapter(*NewModel(testing::TinyGpt2()), dir);
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.status().message().find("num_transformer_submodules: must be 1"), std::string::npos)
      << two.status().message();
  // A tensor of the wrong width names the file and the shape it needs.
  auto prompt = CreateAdapter(*model, PromptJob(2), 0);
  Status bad = (*prompt)->LoadStateDict({{"prompt_embeddings", torch::zeros({2, 15})}}, "f.st");
  EXPECT_NE(bad.message().find("f.st: tensor 'prompt_embeddings' has shape [2, 15], expected [2, 16]"),
            std::string::npos)
      << bad.message();
}

}  // namespace
}  // namespace lf::worker
