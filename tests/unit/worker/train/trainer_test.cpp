#include "worker/train/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "model/test_models.h"
#include "train/toy_data.h"
#include "worker/train/schedule.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::TempDir;
using testing::ToyExamples;

PackedLoader Loader(const jobs::TrainSpec& spec, int64_t seq_len = 16) {
  auto loader = PackedLoader::Create(ToyExamples(64, 1),
                                     {.seq_len = seq_len, .batch_size = spec.batch_size, .seed = spec.seed});
  EXPECT_TRUE(loader.ok()) << loader.status().ToString();
  return std::move(loader).value();
}

jobs::TrainSpec Spec(int64_t steps) {
  jobs::TrainSpec s;
  s.steps = steps;
  s.batch_size = 4;
  s.lr = 1e-2;
  s.log_every = 1000;
  s.seed = 3;
  return s;
}

jobs::JobSpec LoraJob() {
  jobs::JobSpec job;
  job.lora.r = 4;
  job.lora.alpha = 8;
  job.lora.dropout = 0.1;  // exercises the RNG state in checkpoints
  job.lora.target_modules = {"c_attn", "c_fc"};
  return job;
}

Result<TrainResult> TrainLora(const jobs::TrainSpec& spec, TrainerOptions options) {
  auto model = NewModel(testing::TinyGpt2(), 7);
  auto adapter = CreateAdapter(*model, LoraJob(), spec.seed);
  if (!adapter.ok()) return adapter.status();
  PackedLoader loader = Loader(spec);
  options.progress = false;
  Trainer trainer(*model, adapter->get(), spec, options);
  return trainer.Run(loader, {});
}

TEST(ScheduleTest, WarmupThenDecayAsHuggingFaceComputesIt) {
  jobs::TrainSpec s;
  s.steps = 110;
  s.lr = 1.0;
  s.warmup = 10;
  s.schedule = jobs::Schedule::kLinear;
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 0), 0.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 5), 0.5);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 10), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 60), 0.5);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 110), 0.0);
  s.schedule = jobs::Schedule::kCosine;
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 60), 0.5);
  EXPECT_NEAR(LearningRateAt(s, 35), 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-12);
  s.schedule = jobs::Schedule::kConstant;
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 100), 1.0);
}

TEST(TrainerTest, LoraLossFallsAndOnlyTheAdapterChanges) {
  auto model = NewModel(testing::TinyGpt2(), 7);
  {
    // Random embeddings of std 0.02 keep every logit near zero, and LoRA cannot change them;
    // std 1 gives the adapter room to learn, as a pretrained base would.
    torch::NoGradGuard no_grad;
    model->StateDict().at("transformer.wte.weight").mul_(50);
  }
  auto before = model->StateDict();
  std::map<std::string, torch::Tensor> base_copy;
  for (auto& [k, v] : before) base_copy[k] = v.clone();
  auto adapter = CreateAdapter(*model, LoraJob(), 3);
  ASSERT_TRUE(adapter.ok());
  jobs::TrainSpec spec = Spec(60);
  PackedLoader loader = Loader(spec);
  std::vector<Batch> eval = *EvalBatches(ToyExamples(8, 99), 16, 4, 49);
  const double eval_before = Evaluate(*model, eval).loss;
  Trainer trainer(*model, adapter->get(), spec, {.progress = false});
  auto result = trainer.Run(loader, eval);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(result->completed());
  EXPECT_EQ(result->steps, 60);
  ASSERT_EQ(result->losses.size(), 60u);
  EXPECT_LT(result->final_train_loss, result->losses.front() * 0.8);
  ASSERT_TRUE(result->eval_loss.has_value());
  EXPECT_LT(*result->eval_loss, eval_before);
  ASSERT_TRUE(result->initial_eval_loss.has_value());
  EXPECT_DOUBLE_EQ(*result->initial_eval_loss, eval_before);  // the untrained adapter is the base
  EXPECT_EQ(result->trainable_params, (*adapter)->NumTrainable());
  EXPECT_GT(result->tokens_per_s, 0);
  for (auto& [k, v] : model->StateDict()) EXPECT_TRUE(torch::equal(v, base_copy.at(k))) << k;
}

TEST(TrainerTest, SameSeedGivesBitIdenticalLosses) {
  auto a = TrainLora(Spec(15), {});
  auto b = TrainLora(Spec(15), {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->losses, b->losses);  // exact, not approximate
  jobs::TrainSpec other = Spec(15);
  other.seed = 4;
  EXPECT_NE(TrainLora(other, {})->losses, a->losses);
}

TEST(TrainerTest, ResumingFromACheckpointGivesTheUninterruptedLosses) {
  jobs::TrainSpec spec = Spec(20);
  spec.grad_accum = 2;
  spec.schedule = jobs::Schedule::kCosine;
  spec.warmup = 3;
  spec.checkpoint_every = 5;
  auto straight = TrainLora(spec, {.checkpoint_dir = TempDir("ckpt_straight")});
  ASSERT_TRUE(straight.ok());

  const std::string dir = TempDir("ckpt_resume");
  int calls = 0;
  auto first = TrainLora(spec, {.checkpoint_dir = dir, .stop_requested = [&] { return ++calls > 12; }});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->stop_reason, jobs::StopReason::kStopped);
  EXPECT_EQ(first->steps, 12);
  auto second = TrainLora(spec, {.checkpoint_dir = dir});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->resumed_from_step, 12);
  EXPECT_TRUE(second->completed());
  ASSERT_EQ(second->losses.size(), straight->losses.size());
  for (size_t i = 0; i < straight->losses.size(); ++i) {
    EXPECT_EQ(second->losses[i], straight->losses[i]) << "step " << i + 1;
  }
}

// The loader read ahead on a background thread (what CUDA runs do) gives the batches of reading it
// in step, and a run stopped meanwhile resumes exactly.
TEST(TrainerTest, BatchesPreparedOnABackgroundThreadGiveTheSameLossesAndResume) {
  jobs::TrainSpec spec = Spec(12);
  spec.grad_accum = 2;
  spec.checkpoint_every = 4;
  auto plain = TrainLora(spec, {.checkpoint_dir = TempDir("prefetch_plain")});
  auto ahead =
      TrainLora(spec, {.checkpoint_dir = TempDir("prefetch_ahead"), .prefetch_batches = true});
  ASSERT_TRUE(plain.ok() && ahead.ok());
  EXPECT_EQ(ahead->losses, plain->losses);
  const std::string dir = TempDir("prefetch_resume");
  int calls = 0;
  auto first = TrainLora(spec, {.checkpoint_dir = dir,
                                .stop_requested = [&] { return ++calls > 5; },
                                .prefetch_batches = true});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->steps, 5);
  auto second = TrainLora(spec, {.checkpoint_dir = dir, .prefetch_batches = true});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->resumed_from_step, 5);
  EXPECT_EQ(second->losses, plain->losses);
}

// Found by the chaos soak: a rank SIGKILLed while it removed the checkpoints of a trial it had
// just finished (remove_all goes file by file) left the newest folder with state.json but no
// tensors; every later attempt resumed from it, failed to open it, and the trial failed for good.
TEST(TrainerTest, ResumingSkipsACheckpointTornWhileItWasRemoved) {
  jobs::TrainSpec spec = Spec(20);
  spec.checkpoint_every = 5;
  auto straight = TrainLora(spec, {.checkpoint_dir = TempDir("ckpt_torn_straight")});
  ASSERT_TRUE(straight.ok());
  const std::string dir = TempDir("ckpt_torn");
  int calls = 0;
  ASSERT_TRUE(TrainLora(spec, {.checkpoint_dir = dir, .stop_requested = [&] { return ++calls > 12; }}).ok());
  ASSERT_TRUE(std::filesystem::exists(dir + "/checkpoint-12/state.json"));
  std::filesystem::remove(dir + "/checkpoint-12/trainable.safetensors");
  auto resumed = TrainLora(spec, {.checkpoint_dir = dir});
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->resumed_from_step, 10);
  ASSERT_EQ(resumed->losses.size(), straight->losses.size());
  for (size_t i = 0; i < straight->losses.size(); ++i) {
    EXPECT_EQ(resumed->losses[i], straight->losses[i]) << "step " << i + 1;
  }
}

// Run attaches the adapter it trains for as long as it runs, whatever the model had before, and
// gives the model its hook back afterwards; full fine-tuning trains the base alone.
TEST(TrainerTest, RunAttachesTheAdapterWhileItTrainsOnly) {
  auto model = NewModel(testing::TinyGpt2(), 7);
  ModelHook outer;
  ScopedHook outer_attached(*model, &outer);
  auto adapter = CreateAdapter(*model, LoraJob(), 3);
  ASSERT_TRUE(adapter.ok());
  EXPECT_EQ(model->hook(), &outer);
  jobs::TrainSpec spec = Spec(3);
  std::vector<ModelHook*> seen;
  TrainerOptions options{.progress = false};
  options.on_step = [&](const StepMetrics&) { seen.push_back(model->hook()); };
  PackedLoader loader = Loader(spec);
  ASSERT_TRUE(Trainer(*model, adapter->get(), spec, options).Run(loader, {}).ok());
  EXPECT_EQ(seen, std::vector<ModelHook*>(3, adapter->get()));
  EXPECT_EQ(model->hook(), &outer);

  seen.clear();
  PackedLoader full_loader = Loader(spec);
  ASSERT_TRUE(Trainer(*model, nullptr, spec, options).Run(full_loader, {}).ok());
  EXPECT_EQ(seen, std::vector<ModelHook*>(3, nullptr));
  EXPECT_EQ(model->hook(), &outer);
}

TEST(TrainerTest, ACheckpointOfAnotherJobIsRefusedWithWhatToDo) {
  jobs::TrainSpec spec = Spec(10);
  const std::string dir = TempDir("ckpt_other_job");
  int calls = 0;
  ASSERT_TRUE(TrainLora(spec, {.checkpoint_dir = dir, .stop_requested = [&] { return ++calls > 3; }}).ok());
  auto model = NewModel(testing::TinyGpt2(), 7);
  jobs::JobSpec other = LoraJob();
  other.lora.r = 2;  // the job changed between the runs
  auto adapter = CreateAdapter(*model, other, 0);
  ASSERT_TRUE(adapter.ok());
  PackedLoader loader = Loader(spec);
  Trainer trainer(*model, adapter->get(), spec, {.progress = false, .checkpoint_dir = dir});
  auto result = trainer.Run(loader, {});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("--no-resume"), std::string::npos) << result.status().message();
  EXPECT_NE(result.status().message().find("for r=2"), std::string::npos);
}

TEST(TrainerTest, FullFineTuningTrainsEveryWeightAndResumes) {
  jobs::TrainSpec spec = Spec(10);
  spec.lr = 3e-3;
  spec.checkpoint_every = 4;
  auto run = [&](const std::string& dir, std::function<bool()> stop) {
    auto model = NewModel(testing::TinyLlama(), 2);
    PackedLoader loader = Loader(spec);
    Trainer trainer(*model, nullptr, spec, {.progress = false, .checkpoint_dir = dir, .stop_requested = stop});
    return trainer.Run(loader, {});
  };
  auto straight = run(TempDir("full_straight"), nullptr);
  ASSERT_TRUE(straight.ok()) << straight.status().ToString();
  EXPECT_EQ(straight->trainable_params, testing::TinyLlama().NumParameters());
  EXPECT_LT(straight->losses.back(), straight->losses.front());
  const std::string dir = TempDir("full_resume");
  int calls = 0;
  ASSERT_TRUE(run(dir, [&] { return ++calls > 6; }).ok());
  auto resumed = run(dir, nullptr);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->resumed_from_step, 6);
  EXPECT_EQ(resumed->losses, straight->losses);
}

TEST(TrainerTest, NonFiniteLossStopsWithTheReason) {
  jobs::TrainSpec spec = Spec(30);
  auto model = NewModel(testing::TinyGpt2(), 7);
  {
    torch::NoGradGuard no_grad;
    model->LinearModules()[1]->weight.index_put_({0, 0}, std::nan(""));  // a broken base weight
  }
  auto adapter = CreateAdapter(*model, LoraJob(), 1);
  ASSERT_TRUE(adapter.ok());
  PackedLoader loader = Loader(spec);
  Trainer trainer(*model, adapter->get(), spec, {.progress = false});
  auto result = trainer.Run(loader, {});
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->completed());
  EXPECT_EQ(result->stop_reason, jobs::StopReason::kDiverged);
  EXPECT_NE(result->stop_detail.find("the loss became"), std::string::npos) << result->stop_detail;
  EXPECT_NE(result->stop_detail.find("lower train.lr"), std::string::npos);
  EXPECT_NE(result->stop_detail.find("NaN at step 1"), std::string::npos) << result->stop_detail;
  EXPECT_EQ(result->steps, 0);
}

}  // namespace
}  // namespace lf::worker
