// Packed training against training alone: every trial's per-step losses, eval losses and final
// adapter tensors equal (to 1e-5 in fp32) what Trainer gives the same trial on its own model,
// with trials that differ in rank, alpha, targets, learning rate, schedule, accumulation, batch,
// seed, data and length, that join a running pack and leave it, and that stop and resume.
#include "worker/train/packed_trainer.h"

#include <gtest/gtest.h>

#include "model/test_models.h"
#include "train/toy_data.h"
#include "worker/peft/lora.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::TempDir;
using testing::ToyExamples;

// One trial: its job and where its data comes from.
struct TrialCase {
  std::string id;
  jobs::LoraSpec lora;
  jobs::TrainSpec train;
  uint64_t data_seed = 1;
};

std::vector<TrialCase> Cases() {
  std::vector<TrialCase> cases(3);
  cases[0].id = "r2";
  cases[0].lora = {.r = 2, .alpha = 4, .target_modules = {"c_attn"}};
  cases[0].train = {.steps = 8, .batch_size = 4, .lr = 1e-2, .seed = 1};
  cases[1].id = "r8-cosine";
  cases[1].lora = {.r = 8, .alpha = 16, .target_modules = {"c_attn", "c_fc"}};
  cases[1].train = {.steps = 12, .batch_size = 2, .lr = 3e-3, .seed = 2};
  cases[1].train.schedule = jobs::Schedule::kCosine;
  cases[1].train.warmup = 3;
  cases[1].train.eval_every = 4;
  cases[1].data_seed = 2;
  cases[2].id = "r4-accum-rslora";
  cases[2].lora = {.r = 4, .alpha = 8, .target_modules = {"c_fc", "c_proj"}, .rslora = true};
  cases[2].train = {.steps = 6, .batch_size = 3, .grad_accum = 2, .lr = 5e-3,
                    .max_grad_norm = 0.5, .seed = 3};
  cases[2].data_seed = 3;
  for (TrialCase& c : cases) c.train.log_every = 1000;
  return cases;
}

PackedLoader LoaderFor(const TrialCase& c) {
  auto loader = PackedLoader::Create(ToyExamples(64, c.data_seed),
                                     {.seq_len = 16, .batch_size = c.train.batch_size,
                                      .seed = c.train.seed});
  EXPECT_TRUE(loader.ok()) << loader.status().ToString();
  return std::move(loader).value();
}

std::vector<Batch> EvalSet() {
  auto eval = EvalBatches(ToyExamples(8, 99), 16, 4, 0);
  EXPECT_TRUE(eval.ok());
  return std::move(eval).value();
}

struct Outcome {
  TrainResult result;
  std::map<std::string, torch::Tensor> adapter;
};

Result<std::unique_ptr<Adapter>> NewLora(CausalLm& model, const TrialCase& c) {
  jobs::JobSpec job;
  job.lora = c.lora;
  return CreateAdapter(model, job, c.train.seed);
}

Outcome Alone(const TrialCase& c, TrainerOptions options = {}) {
  auto model = NewModel(testing::TinyGpt2(), 7);
  auto adapter = NewLora(*model, c);
  EXPECT_TRUE(adapter.ok()) << adapter.status().ToString();
  PackedLoader loader = LoaderFor(c);
  options.progress = false;
  Trainer trainer(*model, adapter->get(), c.train, options);
  auto result = trainer.Run(loader, EvalSet());
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return {*result, (*adapter)->StateDict()};
}

double MaxDiff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

void ExpectSame(const Outcome& packed, const Outcome& alone, const std::string& id) {
  EXPECT_EQ(packed.result.steps, alone.result.steps) << id;
  EXPECT_LT(MaxDiff(packed.result.losses, alone.result.losses), 1e-5) << id;
  ASSERT_TRUE(packed.result.eval_loss && alone.result.eval_loss) << id;
  EXPECT_NEAR(*packed.result.eval_loss, *alone.result.eval_loss, 1e-5) << id;
  EXPECT_NEAR(*packed.result.initial_eval_loss, *alone.result.initial_eval_loss, 1e-6) << id;
  ASSERT_EQ(packed.adapter.size(), alone.adapter.size()) << id;
  for (const auto& [key, t] : alone.adapter) {
    ASSERT_TRUE(packed.adapter.count(key)) << id << " " << key;
    EXPECT_LT((packed.adapter.at(key) - t).abs().max().item<double>(), 1e-5) << id << " " << key;
  }
}

// The pack's side: one model, the trials' adapters on it, their loaders and eval sets.
struct Pack {
  std::unique_ptr<CausalLm> model = NewModel(testing::TinyGpt2(), 7);
  std::vector<std::unique_ptr<Adapter>> adapters;
  std::vector<std::unique_ptr<PackedLoader>> loaders;
  std::vector<Batch> eval = EvalSet();
  std::map<std::string, Adapter*> by_id;

  PackMember Member(const TrialCase& c, TrainerOptions options = {}) {
    auto adapter = NewLora(*model, c);
    EXPECT_TRUE(adapter.ok()) << adapter.status().ToString();
    adapters.push_back(std::move(adapter).value());
    loaders.push_back(std::make_unique<PackedLoader>(LoaderFor(c)));
    by_id[c.id] = adapters.back().get();
    options.progress = false;
    return {.id = c.id, .adapter = adapters.back().get(), .spec = c.train,
            .options = std::move(options), .train = loaders.back().get(), .eval = &eval};
  }

  std::map<std::string, Outcome> Collect(std::vector<PackResult> results) {
    std::map<std::string, Outcome> out;
    for (PackResult& r : results) {
      EXPECT_TRUE(r.result.ok()) << r.id << ": " << r.result.status().ToString();
      if (r.result.ok()) out[r.id] = {*r.result, by_id.at(r.id)->StateDict()};
    }
    return out;
  }
};

TEST(PackedTrainerTest, EveryTrialOfAPackTrainsAsItWouldAlone) {
  const auto cases = Cases();
  Pack pack;
  PackedTrainer trainer(*pack.model);
  for (const TrialCase& c : cases) ASSERT_TRUE(trainer.Add(pack.Member(c)).ok());
  EXPECT_EQ(trainer.size(), 3u);
  std::vector<PackResult> results = trainer.Run();
  // They leave as they finish: after 8 pack steps the 8-step trial; after 12 both the 12-step
  // trial and the 6-step one with 2 micro-batches a step, in pack order.
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].id, "r2");
  EXPECT_EQ(results[1].id, "r8-cosine");
  EXPECT_EQ(results[2].id, "r4-accum-rslora");
  auto packed = pack.Collect(std::move(results));
  for (const TrialCase& c : cases) ExpectSame(packed.at(c.id), Alone(c), c.id);
  EXPECT_EQ(trainer.size(), 0u);
}

TEST(PackedTrainerTest, ATrialJoiningARunningPackDisturbsNoOne) {
  const auto cases = Cases();
  Pack pack;
  PackedTrainer trainer(*pack.model);
  ASSERT_TRUE(trainer.Add(pack.Member(cases[1])).ok());
  std::vector<PackResult> results;
  for (int i = 0; i < 5; ++i) {
    for (PackResult& r : trainer.Step()) results.push_back(std::move(r));
  }
  EXPECT_TRUE(results.empty());
  ASSERT_TRUE(trainer.Add(pack.Member(cases[0])).ok());  // joins at step 5 of the other
  EXPECT_EQ(trainer.ids(), (std::vector<std::string>{"r8-cosine", "r2"}));
  for (PackResult& r : trainer.Run()) results.push_back(std::move(r));
  auto packed = pack.Collect(std::move(results));
  ExpectSame(packed.at("r2"), Alone(cases[0]), "r2");
  ExpectSame(packed.at("r8-cosine"), Alone(cases[1]), "r8-cosine");
}

TEST(PackedTrainerTest, AStoppedTrialLeavesACheckpointThatResumesAlone) {
  const auto cases = Cases();
  const std::string dir = TempDir("packed_stop");
  Pack pack;
  PackedTrainer trainer(*pack.model);
  int steps_seen = 0;
  TrainerOptions options{.checkpoint_dir = dir};
  options.on_step = [&](const StepMetrics&) { ++steps_seen; };
  options.stop_requested = [&] { return steps_seen >= 5; };
  ASSERT_TRUE(trainer.Add(pack.Member(cases[1], options)).ok());
  ASSERT_TRUE(trainer.Add(pack.Member(cases[0])).ok());
  auto packed = pack.Collect(trainer.Run());
  EXPECT_EQ(packed.at("r8-cosine").result.stop_reason, jobs::StopReason::kStopped);
  EXPECT_EQ(packed.at("r8-cosine").result.steps, 5);
  ExpectSame(packed.at("r2"), Alone(cases[0]), "r2 (its pack-mate stopped)");
  // Alone from the pack's checkpoint: the same as never having stopped.
  Outcome resumed = Alone(cases[1], {.checkpoint_dir = dir});
  EXPECT_EQ(resumed.result.resumed_from_step, 5);
  Outcome uninterrupted = Alone(cases[1]);
  EXPECT_LT(MaxDiff(resumed.result.losses, uninterrupted.result.losses), 1e-5);
  for (const auto& [key, t] : uninterrupted.adapter) {
    EXPECT_LT((resumed.adapter.at(key) - t).abs().max().item<double>(), 1e-5) << key;
  }
}

// The pack's hook is the model's only while the pack lives, and refers to no member that has left:
// once the members' adapters are destroyed the model computes what it did before, and once the
// pack is gone its hook is the one from before.
TEST(PackedTrainerTest, TheModelForgetsMembersThatLeftAndThePackOnceItIsGone) {
  const auto cases = Cases();
  Pack pack;
  torch::Tensor ids = testing::SampleIds(2, 6, 50);
  const torch::Tensor base = pack.model->Forward(ids);
  ModelHook outer;  // changes nothing: whatever was attached before the pack
  ScopedHook outer_attached(*pack.model, &outer);
  {
    PackedTrainer trainer(*pack.model);
    EXPECT_NE(pack.model->hook(), &outer);
    ASSERT_TRUE(trainer.Add(pack.Member(cases[0])).ok());
    ASSERT_TRUE(trainer.Add(pack.Member(cases[2])).ok());
    EXPECT_EQ(pack.Collect(trainer.Run()).size(), 2u);
    pack.by_id.clear();
    pack.adapters.clear();  // they left the pack; the pack goes on
    EXPECT_TRUE(torch::equal(pack.model->Forward(ids), base));
  }
  EXPECT_EQ(pack.model->hook(), &outer);
  EXPECT_TRUE(torch::equal(pack.model->Forward(ids), base));
}

TEST(PackedTrainerTest, RefusesWhatCannotBePackedNamingTheTrial) {
  Pack pack;
  PackedTrainer trainer(*pack.model);
  jobs::JobSpec ia3;
  ia3.method = jobs::Method::kIa3;
  auto adapter = CreateAdapter(*pack.model, ia3, 0);
  ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
  TrialCase c = Cases()[0];
  PackMember member = pack.Member(c);
  member.id = "t-ia3";
  member.adapter = adapter->get();
  Status refused = trainer.Add(member);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("trial t-ia3: method ia3 cannot join a pack"), std::string::npos)
      << refused.message();

  ASSERT_TRUE(trainer.Add(pack.Member(c)).ok());
  EXPECT_EQ(trainer.Add(pack.Member(c)).code(), StatusCode::kAlreadyExists);
  TrialCase longer = Cases()[1];
  PackMember other = pack.Member(longer);
  auto loader = PackedLoader::Create(ToyExamples(64, 1), {.seq_len = 24, .batch_size = 2});
  ASSERT_TRUE(loader.ok());
  other.train = &*loader;
  Status mismatch = trainer.Add(other);
  EXPECT_NE(mismatch.message().find("rows of 24 tokens cannot join a pack of 16-token rows"),
            std::string::npos)
      << mismatch.message();
}

}  // namespace
}  // namespace lf::worker
