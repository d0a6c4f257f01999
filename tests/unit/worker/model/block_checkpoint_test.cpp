// train.gradient_checkpointing: recomputing each decoder block in backward gives the gradients of
// keeping its activations (adapter dropout included, prefixes made once per forward, a trainable
// base) and holds less memory at the peak.
#include "worker/model/block_checkpoint.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include "model/test_models.h"
#include "worker/model/causal_lm.h"
#include "worker/peft/adapter.h"
#include "worker/train/memory.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::SampleIds;

// The loss and the gradients of `params` after one forward and backward pass.
std::vector<torch::Tensor> Gradients(CausalLm& model, const std::vector<torch::Tensor>& params,
                                     bool checkpointing, uint64_t seed) {
  for (torch::Tensor p : params) p.mutable_grad() = torch::Tensor();
  model.SetGradientCheckpointing(checkpointing);
  const int64_t vocab = model.config().vocab_size;
  torch::Tensor ids = SampleIds(2, 12, vocab), labels = SampleIds(2, 12, vocab, 5);
  torch::manual_seed(seed);  // the adapter's dropout masks
  torch::Tensor loss = LmHeadLoss(model.ForwardHidden(ids, {}), labels);
  loss.backward();
  model.SetGradientCheckpointing(false);
  std::vector<torch::Tensor> out = {loss.detach()};
  for (const torch::Tensor& p : params) {
    out.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  }
  return out;
}

void ExpectSameGradients(CausalLm& model, const std::vector<torch::Tensor>& params,
                         const std::string& what) {
  const auto plain = Gradients(model, params, false, 9);
  const auto checkpointed = Gradients(model, params, true, 9);
  ASSERT_EQ(plain.size(), checkpointed.size());
  double largest = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_TRUE(torch::allclose(checkpointed[i], plain[i], 1e-5, 1e-6)) << what << " tensor " << i;
    largest = std::max(largest, plain[i].abs().max().item<double>());
  }
  EXPECT_GT(largest, 0) << what;  // something was compared
}

std::vector<torch::Tensor> TrainedAdapter(CausalLm& model, const jobs::JobSpec& job,
                                          std::unique_ptr<Adapter>* adapter) {
  auto created = CreateAdapter(model, job, 3);
  EXPECT_TRUE(created.ok()) << created.status().ToString();
  *adapter = std::move(created).value();
  torch::NoGradGuard no_grad;  // non-zero B and friends, so every tensor gets a gradient
  for (torch::Tensor& p : (*adapter)->Parameters()) p.add_(torch::randn_like(p) * 0.1);
  (*adapter)->SetTraining(true);
  return (*adapter)->Parameters();
}

TEST(BlockCheckpointTest, LoraWithDropoutGetsTheSameGradients) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama()}) {
    auto model = NewModel(config);
    jobs::JobSpec job;
    job.lora.dropout = 0.3;  // the recomputation must draw the same masks
    job.lora.target_modules = config.arch == Architecture::kGpt2
                                  ? std::vector<std::string>{"c_attn", "c_fc"}
                                  : std::vector<std::string>{"q_proj", "v_proj", "down_proj"};
    std::unique_ptr<Adapter> adapter;
    auto params = TrainedAdapter(*model, job, &adapter);
    ScopedHook attached(*model, adapter.get());
    ExpectSameGradients(*model, params, "lora on " + config.model_type);
  }
}

TEST(BlockCheckpointTest, PrefixesMadeOncePerForwardAndAFullBaseGetTheSameGradients) {
  auto model = NewModel(testing::TinyLlama());
  jobs::JobSpec job;
  job.method = jobs::Method::kPrefixTuning;
  job.prefix_tuning = {.num_virtual_tokens = 3, .prefix_projection = true};
  std::unique_ptr<Adapter> adapter;
  auto params = TrainedAdapter(*model, job, &adapter);
  {
    ScopedHook attached(*model, adapter.get());
    ExpectSameGradients(*model, params, "prefix tuning with projection");
  }
  model->SetBaseTrainable(true);  // full fine-tuning: every weight, the embedding and head too
  ExpectSameGradients(*model, model->BaseParameters(), "full fine-tuning");
  model->SetBaseTrainable(false);
}

TEST(BlockCheckpointTest, EvaluationAndNoGradForwardsAreNotCheckpointed) {
  auto model = NewModel(testing::TinyGpt2());
  torch::Tensor ids = SampleIds(1, 6, 50);
  torch::Tensor plain = model->Forward(ids);
  model->SetGradientCheckpointing(true);
  torch::NoGradGuard no_grad;
  torch::Tensor checkpointed = model->Forward(ids);
  EXPECT_FALSE(checkpointed.requires_grad());
  EXPECT_TRUE(torch::equal(plain, checkpointed));
}

// The peak resident memory of one training forward and backward pass on a deeper, longer
// configuration than the other tests use (8 layers, 512 tokens).
int64_t PeakBytes(CausalLm& model, bool checkpointing) {
  model.SetGradientCheckpointing(checkpointing);
  torch::Tensor ids = SampleIds(2, 512, 50), labels = SampleIds(2, 512, 50, 6);
  const int64_t before = CurrentMemoryBytes();
  ResetPeakMemory();
  {
    torch::Tensor loss = LmHeadLoss(model.ForwardHidden(ids, {}), labels);
    loss.backward();
  }
  model.SetGradientCheckpointing(false);
  return PeakMemoryBytes() - before;
}

TEST(BlockCheckpointTest, PeakMemoryIsLowerOnADeeperLongerModel) {
  // Every tensor of 64 KiB or more in pages of its own, given back when freed, so the resident
  // peak follows the tensors alive (glibc's adaptive threshold would keep freed ones in the heap).
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  auto model = NewModel(Gpt2Config(50, 512, 128, 8, 4));
  jobs::JobSpec job;
  job.lora.target_modules = {"c_attn", "c_fc"};
  auto adapter = CreateAdapter(*model, job, 1);
  ASSERT_TRUE(adapter.ok());
  ScopedHook attached(*model, adapter->get());
  PeakBytes(*model, false);  // warm-up: the allocator's and OpenMP's own first-use memory
  const int64_t plain = PeakBytes(*model, false);
  const int64_t checkpointed = PeakBytes(*model, true);
  std::printf("peak memory of a forward and backward pass: %.1f MiB kept, %.1f MiB checkpointed\n",
              plain / 1048576.0, checkpointed / 1048576.0);
  EXPECT_LT(checkpointed, plain / 2);
}

}  // namespace
}  // namespace lf::worker
