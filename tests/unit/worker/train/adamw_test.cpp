// The foreach AdamW and the sync-free clipping against LibTorch's torch::optim::AdamW and
// clip_grad_norm_; reading step metrics back late changes nothing that is reported.
#include "worker/train/adamw.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "model/test_models.h"
#include "train/toy_data.h"
#include "worker/train/trainer.h"

namespace lf::worker {
namespace {

std::vector<torch::Tensor> Params(uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> out;
  for (auto shape : {std::vector<int64_t>{4, 7}, {7}, {3, 2, 5}, {1}}) {
    out.push_back(torch::randn(shape).requires_grad_(true));
  }
  return out;
}

void SetGradients(std::vector<torch::Tensor>& params, int step) {
  torch::manual_seed(100 + step);
  for (size_t i = 0; i < params.size(); ++i) {
    // The third tensor has no gradient on odd steps: both optimizers leave it alone then.
    const double scale = static_cast<double>(i + 1);
    params[i].mutable_grad() =
        i == 2 && step % 2 == 1 ? torch::Tensor() : torch::randn_like(params[i]) * scale;
  }
}

TEST(ForeachAdamWTest, UpdatesAsTorchOptimAdamWDoes) {
  for (double weight_decay : {0.0, 0.1}) {
    std::vector<torch::Tensor> ours = Params(1), theirs = Params(1);
    ForeachAdamW foreach_adamw(ours, {.lr = 1e-2, .weight_decay = weight_decay});
    torch::optim::AdamW reference(theirs,
                                  torch::optim::AdamWOptions(1e-2).weight_decay(weight_decay));
    for (int step = 0; step < 12; ++step) {
      const double lr = 1e-2 * (1 + step % 3);  // a schedule
      foreach_adamw.set_lr(lr);
      for (auto& group : reference.param_groups()) {
        static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
      }
      SetGradients(ours, step);
      SetGradients(theirs, step);
      foreach_adamw.Step();
      reference.step();
    }
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-6, 1e-7))
          << "tensor " << i << " weight_decay " << weight_decay << ": largest difference "
          << (ours[i] - theirs[i]).abs().max().item<double>();
    }
    EXPECT_EQ(foreach_adamw.steps(0), 12);
    EXPECT_EQ(foreach_adamw.steps(2), 6);  // no gradient on odd steps
  }
}

TEST(ForeachAdamWTest, SavedStateContinuesExactly) {
  std::vector<torch::Tensor> straight = Params(2), resumed = Params(2);
  ForeachAdamW a(straight, {.lr = 5e-3}), b(resumed, {.lr = 5e-3});
  for (int step = 0; step < 4; ++step) {
    SetGradients(straight, step);
    a.Step();
    SetGradients(resumed, step);
    b.Step();
  }
  ForeachAdamW c(resumed, {.lr = 5e-3});  // a new run resuming from b's state
  ASSERT_TRUE(c.Load(b.State(), "checkpoint").ok());
  for (int step = 4; step < 8; ++step) {
    SetGradients(straight, step);
    a.Step();
    SetGradients(resumed, step);
    c.Step();
  }
  for (size_t i = 0; i < straight.size(); ++i) EXPECT_TRUE(torch::equal(straight[i], resumed[i]));
  std::map<std::string, torch::Tensor> wrong = b.State();
  wrong["exp_avg.1"] = torch::zeros({3});
  Status bad = c.Load(wrong, "ckpt/optimizer.safetensors");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("exp_avg.1"), std::string::npos) << bad.ToString();
}

TEST(ClipGradNormTest, MatchesLibTorchsAndStaysATensor) {
  for (double max_norm : {0.5, 100.0, std::numeric_limits<double>::infinity()}) {
    std::vector<torch::Tensor> ours = Params(3), theirs = Params(3);
    SetGradients(ours, 1);
    SetGradients(theirs, 1);
    torch::Tensor norm = ClipGradNorm(ours, max_norm);
    const double reference = torch::nn::utils::clip_grad_norm_(theirs, max_norm);
    EXPECT_EQ(norm.dim(), 0);
    EXPECT_NEAR(norm.item<double>(), reference, 1e-5 * reference);
    for (size_t i = 0; i < ours.size(); ++i) {
      if (!ours[i].grad().defined()) continue;
      EXPECT_TRUE(torch::allclose(ours[i].grad(), theirs[i].grad(), 1e-6, 1e-7)) << max_norm;
    }
  }
}

// Reading the loss back every 5 steps (what CUDA does with log_every 5) reports exactly what
// reading every step reports, and a NaN is reported at the step it happened.
TEST(StepReadBackTest, LateReadsReportTheSameStepsAndDivergenceWhereItHappened) {
  auto train = [](int64_t sync_every, bool broken) {
    auto model = testing::NewModel(testing::TinyGpt2(), 7);
    jobs::JobSpec job;
    job.lora.target_modules = {"c_attn"};
    auto adapter = CreateAdapter(*model, job, 1);
    EXPECT_TRUE(adapter.ok());
    jobs::TrainSpec spec;
    spec.steps = 12;
    spec.batch_size = 4;
    spec.lr = 1e-2;
    spec.eval_every = 4;
    auto loader = PackedLoader::Create(testing::ToyExamples(64, 1),
                                       {.seq_len = 16, .batch_size = 4, .seed = 0});
    EXPECT_TRUE(loader.ok());
    std::vector<StepMetrics> seen;
    int64_t step_calls = 0;
    TrainerOptions options{.progress = false,
                           .on_step = [&](const StepMetrics& m) { seen.push_back(m); },
                           .stop_requested =
                               [&] {
                                 // Step 7's weights go bad: its loss is the first non-finite one.
                                 if (broken && ++step_calls == 7) {
                                   torch::NoGradGuard no_grad;
                                   model->LinearModules()[0]->weight.fill_(std::nan(""));
                                 }
                                 return false;
                               },
                           .sync_every = sync_every};
    Trainer trainer(*model, adapter->get(), spec, options);
    std::vector<Batch> eval;
    auto result = trainer.Run(*loader, eval);
    EXPECT_TRUE(result.ok());
    return std::make_pair(*result, seen);
  };
  const auto [eager, eager_seen] = train(1, false);
  const auto [late, late_seen] = train(5, false);
  EXPECT_EQ(late.losses, eager.losses);
  ASSERT_EQ(late_seen.size(), 12u);
  for (size_t i = 0; i < late_seen.size(); ++i) {
    EXPECT_EQ(late_seen[i].step, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(late_seen[i].loss, eager_seen[i].loss);
    EXPECT_EQ(late_seen[i].grad_norm, eager_seen[i].grad_norm);
    EXPECT_EQ(late_seen[i].lr, eager_seen[i].lr);
  }
  const auto [diverged, diverged_seen] = train(5, true);
  EXPECT_EQ(diverged.stop_reason, jobs::StopReason::kDiverged);
  EXPECT_NE(diverged.stop_detail.find("NaN at step 7"), std::string::npos) << diverged.stop_detail;
  EXPECT_EQ(diverged.steps, 6);
  EXPECT_EQ(diverged.losses.size(), 6u);
  EXPECT_EQ(diverged_seen.size(), 6u);
}

}  // namespace
}  // namespace lf::worker
