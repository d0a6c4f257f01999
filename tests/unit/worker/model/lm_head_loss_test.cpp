// The fused, chunked LM head + cross-entropy against the unfused path (logits, then
// CausalLmLossSum): losses and gradients, ignored labels, soft-capping, chunk boundaries, models.
#include "worker/model/lm_head_loss.h"

#include <gtest/gtest.h>

#include "model/test_models.h"
#include "worker/model/causal_lm.h"
#include "worker/peft/adapter.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::SampleIds;

struct Grads {
  torch::Tensor loss, hidden, weight;
};

// Loss and gradients of hidden [2, 9, 12] under a [vocab 20, 12] head, a third of the labels -100.
Grads LossAndGrads(bool fused, int64_t chunk, double softcap,
                   torch::Dtype dtype = torch::kFloat32) {
  torch::manual_seed(11);
  torch::Tensor hidden = torch::randn({2, 9, 12}).to(dtype).requires_grad_(true);
  torch::Tensor weight = torch::randn({20, 12}).to(dtype).requires_grad_(true);
  torch::Tensor labels = torch::randint(20, {2, 9}, torch::kInt64);
  labels.masked_fill_(torch::rand({2, 9}) < 0.33, -100);
  labels.index_put_({0, 0}, -100);
  const LmHeadInput head{.hidden = hidden, .weight = weight, .softcap = softcap};
  torch::Tensor loss =
      fused ? LmHeadLossSum(head, labels, chunk) : CausalLmLossSum(LmHeadLogits(head), labels);
  loss.backward();
  return {loss.detach(), hidden.grad(), weight.grad()};
}

TEST(LmHeadLossTest, LossAndGradientsEqualTheUnfusedPathAcrossChunkSizes) {
  for (double softcap : {0.0, 3.0}) {
    const Grads unfused = LossAndGrads(false, 0, softcap);
    for (int64_t chunk : {1, 4, 7, 18, 1024}) {
      const Grads fused = LossAndGrads(true, chunk, softcap);
      EXPECT_TRUE(torch::allclose(fused.loss, unfused.loss, 1e-5, 1e-5))
          << "chunk " << chunk << " softcap " << softcap << ": " << fused.loss.item<double>()
          << " vs " << unfused.loss.item<double>();
      EXPECT_TRUE(torch::allclose(fused.hidden, unfused.hidden, 1e-5, 1e-6)) << chunk;
      EXPECT_TRUE(torch::allclose(fused.weight, unfused.weight, 1e-5, 1e-6)) << chunk;
    }
  }
}

TEST(LmHeadLossTest, Bf16MatchesTheUnfusedBf16Path) {
  const Grads unfused = LossAndGrads(false, 0, 0, torch::kBFloat16);
  const Grads fused = LossAndGrads(true, 5, 0, torch::kBFloat16);
  EXPECT_EQ(fused.loss.scalar_type(), torch::kFloat32);  // the loss is fp32 whatever the compute
  EXPECT_TRUE(torch::allclose(fused.loss, unfused.loss, 1e-4, 1e-4));
  EXPECT_EQ(fused.hidden.scalar_type(), torch::kBFloat16);
  // Both round the softmax gradient to bf16 before the matmul; the BLAS's bf16 accumulation
  // order differs between the paths, a few bf16 steps apart at most.
  const torch::Tensor difference =
      (fused.hidden.to(torch::kFloat32) - unfused.hidden.to(torch::kFloat32)).abs().max();
  EXPECT_LT(difference.item<double>(),
            0.02 * unfused.hidden.to(torch::kFloat32).abs().max().item<double>());
}

TEST(LmHeadLossTest, AllIgnoredLabelsGiveZeroSumAndNoGradient) {
  torch::Tensor hidden = torch::randn({1, 4, 6}).requires_grad_(true);
  torch::Tensor weight = torch::randn({10, 6});
  torch::Tensor labels = torch::full({1, 4}, -100, torch::kInt64);
  torch::Tensor loss = LmHeadLossSum({.hidden = hidden, .weight = weight}, labels, 3);
  EXPECT_EQ(loss.item<double>(), 0.0);
  loss.backward();
  EXPECT_EQ(hidden.grad().abs().max().item<double>(), 0.0);
}

// Through a whole model with a LoRA adapter: the mean loss and the adapter's gradients.
TEST(LmHeadLossTest, ModelsGiveTheUnfusedLossAndAdapterGradients) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama()}) {
    auto model = NewModel(config);
    jobs::JobSpec job;
    job.lora.target_modules = config.arch == Architecture::kGpt2
                                  ? std::vector<std::string>{"c_attn", "c_fc"}
                                  : std::vector<std::string>{"q_proj", "v_proj", "down_proj"};
    auto adapter = CreateAdapter(*model, job, 2);
    ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
    {
      torch::NoGradGuard no_grad;  // a trained-looking B, so A's gradients are not zero
      for (torch::Tensor& p : (*adapter)->Parameters()) p.normal_(0, 0.1);
    }
    ScopedHook attached(*model, adapter->get());
    torch::Tensor ids = SampleIds(3, 10, config.vocab_size);
    torch::Tensor labels = SampleIds(3, 10, config.vocab_size, 4);
    labels.index_put_({1, torch::indexing::Slice(0, 6)}, -100);
    auto grads = [&](bool fused) {
      for (torch::Tensor& p : (*adapter)->Parameters()) p.mutable_grad() = torch::Tensor();
      torch::Tensor loss = fused ? LmHeadLoss(model->ForwardHidden(ids, {}), labels, 7)
                                 : CausalLmLoss(model->Forward(ids), labels);
      loss.backward();
      std::vector<torch::Tensor> out = {loss.detach()};
      for (torch::Tensor& p : (*adapter)->Parameters()) out.push_back(p.grad().clone());
      return out;
    };
    const auto unfused = grads(false), fused = grads(true);
    ASSERT_EQ(unfused.size(), fused.size());
    for (size_t i = 0; i < unfused.size(); ++i) {
      EXPECT_TRUE(torch::allclose(fused[i], unfused[i], 1e-5, 1e-6))
          << config.model_type << " tensor " << i;
    }
    EXPECT_GT(unfused[1].abs().max().item<double>(), 0);
  }
}

}  // namespace
}  // namespace lf::worker
