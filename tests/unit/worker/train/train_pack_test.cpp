// TrainPack, the engine of a worker's pack: each trial's outputs (losses, eval and forgetting
// scores, the saved adapter, result.json) equal what RunTrainJob writes for it alone, including a
// trial that joins a running pack; what cannot be packed is refused naming the trial, and one
// trial's bad data leaves the others training.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_util.h"
#include "model/test_models.h"
#include "worker/worker_api.h"

namespace lf::worker {
namespace {

namespace fs = std::filesystem;
using testing::kRepoRoot;

jobs::JobSpec Job(const std::string& domain, int64_t r, double lr, int64_t steps) {
  jobs::JobSpec job;
  job.base_model = kRepoRoot + "/examples/models/tiny-gpt2";
  job.data.train = kRepoRoot + "/examples/data/" + domain + "/train.jsonl";
  job.data.eval = kRepoRoot + "/examples/data/" + domain + "/eval.jsonl";
  job.data.seq_len = 64;
  job.lora.r = r;
  job.lora.alpha = 2.0 * static_cast<double>(r);
  job.train.steps = steps;
  job.train.batch_size = 2;
  job.train.lr = lr;
  job.train.eval_batches = 2;
  job.train.seed = static_cast<uint64_t>(r);
  return job;
}

std::vector<jobs::JobSpec> Jobs() {
  std::vector<jobs::JobSpec> jobs = {Job("medical", 2, 1e-2, 6), Job("legal", 8, 3e-3, 8),
                                     Job("support", 4, 5e-3, 5)};
  jobs[1].lora.target_modules = {"c_attn", "c_fc"};
  jobs[1].train.eval_every = 4;
  jobs[2].data.general_eval = kRepoRoot + "/examples/data/general/eval.jsonl";
  jobs[2].train.grad_accum = 2;
  return jobs;
}

jobs::JobSpec WithOutput(jobs::JobSpec job, const std::string& name) {
  job.output = testing::TempDir(name);
  return job;
}

std::map<std::string, torch::Tensor> AdapterTensors(const std::string& adapter_dir) {
  return testing::SavedTensors(adapter_dir + "/adapter_model.safetensors");
}

Json ResultJson(const std::string& output) {
  auto text = ReadFileToString(output + "/result.json");
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return Json::parse(text.ok() ? *text : "{}");
}

void ExpectSameOutputs(const TrainJobResult& packed, const TrainJobResult& alone,
                       const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_TRUE(packed.train.completed());
  EXPECT_EQ(packed.train.steps, alone.train.steps);
  ASSERT_EQ(packed.train.losses.size(), alone.train.losses.size());
  for (size_t i = 0; i < alone.train.losses.size(); ++i) {
    EXPECT_NEAR(packed.train.losses[i], alone.train.losses[i], 1e-5) << "step " << i + 1;
  }
  ASSERT_TRUE(packed.train.eval_loss && alone.train.eval_loss);
  EXPECT_NEAR(*packed.train.eval_loss, *alone.train.eval_loss, 1e-5);
  EXPECT_EQ(packed.train.general_eval_loss.has_value(), alone.train.general_eval_loss.has_value());
  if (alone.train.general_eval_loss) {
    EXPECT_NEAR(*packed.train.general_eval_loss_base, *alone.train.general_eval_loss_base, 1e-6);
    EXPECT_NEAR(*packed.train.general_eval_loss, *alone.train.general_eval_loss, 1e-5);
  }
  EXPECT_EQ(packed.train.adapter_bytes, alone.train.adapter_bytes);
  EXPECT_EQ(*ReadFileToString(packed.train.adapter_dir + "/adapter_config.json"),
            *ReadFileToString(alone.train.adapter_dir + "/adapter_config.json"));
  auto p = AdapterTensors(packed.train.adapter_dir), a = AdapterTensors(alone.train.adapter_dir);
  ASSERT_EQ(p.size(), a.size());
  for (const auto& [key, t] : a) {
    ASSERT_TRUE(p.count(key)) << key;
    EXPECT_LT((p.at(key) - t).abs().max().item<double>(), 1e-5) << key;
  }
  const std::string packed_out = fs::path(packed.train.adapter_dir).parent_path().string();
  const std::string alone_out = fs::path(alone.train.adapter_dir).parent_path().string();
  Json pj = ResultJson(packed_out), aj = ResultJson(alone_out);
  EXPECT_EQ(pj["steps"], aj["steps"]);
  EXPECT_EQ(pj["trainable_params"], aj["trainable_params"]);
  EXPECT_EQ(pj["data"], aj["data"]);
  EXPECT_EQ(pj["lineage"]["base_model"], aj["lineage"]["base_model"]);
  pj["job"].erase("output");
  aj["job"].erase("output");
  EXPECT_EQ(pj["job"], aj["job"]);
  EXPECT_FALSE(fs::exists(packed_out + "/checkpoints"));  // removed once the adapter is saved
}

TrainJobResult Alone(const jobs::JobSpec& job, const std::string& name) {
  auto result = RunTrainJob(WithOutput(job, name), {.progress = false, .resume = false});
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return std::move(result).value();
}

// Steps the pack until it is empty; the results by trial id.
std::map<std::string, Result<TrainJobResult>> Drain(TrainPack& pack) {
  std::map<std::string, Result<TrainJobResult>> out;
  while (pack.size() > 0) {
    for (TrainPack::Finished& f : pack.Step()) out.emplace(f.id, std::move(f.result));
  }
  return out;
}

TEST(TrainPackTest, EachTrialWritesWhatTrainingItAloneWrites) {
  const std::vector<jobs::JobSpec> jobs = Jobs();
  auto pack = OpenTrainPack(jobs[0]);
  ASSERT_TRUE(pack.ok()) << pack.status().ToString();
  std::vector<jobs::JobSpec> packed_jobs;
  for (size_t i = 0; i < jobs.size(); ++i) {
    packed_jobs.push_back(WithOutput(jobs[i], "pack_" + std::to_string(i)));
    Status added = (*pack)->Add("t" + std::to_string(i), packed_jobs.back(),
                                {.progress = false, .resume = false});
    ASSERT_TRUE(added.ok()) << added.ToString();
  }
  EXPECT_EQ((*pack)->size(), 3u);
  auto results = Drain(**pack);
  ASSERT_EQ(results.size(), 3u);
  for (size_t i = 0; i < jobs.size(); ++i) {
    const std::string id = "t" + std::to_string(i);
    ASSERT_TRUE(results.at(id).ok()) << results.at(id).status().ToString();
    ExpectSameOutputs(*results.at(id), Alone(jobs[i], "alone_" + std::to_string(i)), id);
  }
}

TEST(TrainPackTest, ATrialJoiningARunningPackWritesWhatItWouldAlone) {
  const std::vector<jobs::JobSpec> jobs = Jobs();
  auto pack = OpenTrainPack(jobs[1]);
  ASSERT_TRUE(pack.ok()) << pack.status().ToString();
  int64_t steps_seen = 0;
  TrainJobOptions options{.progress = false, .resume = false};
  options.on_step = [&](const StepMetrics&) { ++steps_seen; };
  ASSERT_TRUE((*pack)->Add("first", WithOutput(jobs[1], "join_first"), options).ok());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE((*pack)->Step().empty());
  EXPECT_EQ(steps_seen, 3);
  ASSERT_TRUE(
      (*pack)
          ->Add("joined", WithOutput(jobs[0], "join_joined"), {.progress = false, .resume = false})
          .ok());
  auto results = Drain(**pack);
  ASSERT_TRUE(results.at("first").ok() && results.at("joined").ok());
  ExpectSameOutputs(*results.at("first"), Alone(jobs[1], "join_first_alone"), "first");
  ExpectSameOutputs(*results.at("joined"), Alone(jobs[0], "join_joined_alone"), "joined");
}

TEST(TrainPackTest, RefusesWhatItCannotPackAndABadTrialLeavesTheOthersTraining) {
  const std::vector<jobs::JobSpec> jobs = Jobs();
  jobs::JobSpec dora = jobs[0];
  dora.method = jobs::Method::kDora;
  auto refused = OpenTrainPack(dora);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("method dora"), std::string::npos);

  auto pack = OpenTrainPack(jobs[0]);
  ASSERT_TRUE(pack.ok()) << pack.status().ToString();
  ASSERT_TRUE((*pack)->Add("good", WithOutput(jobs[0], "bad_good"), {.progress = false}).ok());
  jobs::JobSpec longer = WithOutput(jobs[1], "bad_longer");
  longer.data.seq_len = 32;
  Status st = (*pack)->Add("longer", longer, {.progress = false});
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("trial longer"), std::string::npos) << st.ToString();
  dora.output = testing::TempDir("bad_dora");
  EXPECT_EQ((*pack)->Add("dora", dora, {.progress = false}).code(),
            StatusCode::kFailedPrecondition);
  jobs::JobSpec missing = WithOutput(jobs[2], "bad_missing");
  missing.data.train = "/nonexistent/train.jsonl";
  st = (*pack)->Add("missing", missing, {.progress = false});
  EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
  EXPECT_NE(st.message().find("/nonexistent/train.jsonl"), std::string::npos) << st.ToString();
  EXPECT_EQ((*pack)->size(), 1u);
  auto results = Drain(**pack);
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results.at("good").ok()) << results.at("good").status().ToString();
  EXPECT_EQ(results.at("good")->train.steps, jobs[0].train.steps);
}

}  // namespace
}  // namespace lf::worker
