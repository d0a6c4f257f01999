// `method: full` end to end: RunTrainJob on the bundled tiny GPT-2 and medical notes.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_util.h"
#include "model/test_models.h"
#include "worker/model/causal_lm.h"
#include "worker/worker_api.h"

namespace lf::worker {
namespace {

namespace fs = std::filesystem;
using testing::kRepoRoot;

TEST(FullFineTuneTest, TrainsEveryWeightAndWritesALoadableModelFolder) {
  jobs::JobSpec job;
  job.method = jobs::Method::kFull;
  job.base_model = kRepoRoot + "/examples/models/tiny-gpt2";
  job.data.train = kRepoRoot + "/examples/data/medical/train.jsonl";
  job.data.seq_len = 64;
  job.train.steps = 4;
  job.train.batch_size = 2;
  job.train.lr = 1e-3;
  job.output = testing::TempDir("full_job");
  auto result = RunTrainJob(job, {.progress = false, .resume = false});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_TRUE(result->train.completed());
  EXPECT_EQ(result->train.trainable_params, result->train.base_params);
  EXPECT_GT(result->train.trainable_params, 0);

  const fs::path model_dir = fs::path(job.output) / "model";
  EXPECT_EQ(result->train.adapter_dir, model_dir.string());
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.json"}) {
    EXPECT_TRUE(fs::exists(model_dir / name)) << name;
  }
  EXPECT_FALSE(fs::exists(fs::path(job.output) / "adapter"));
  EXPECT_EQ(result->train.adapter_bytes,
            static_cast<int64_t>(fs::file_size(model_dir / "model.safetensors")));
  Json summary = Json::parse(*ReadFileToString((fs::path(job.output) / "result.json").string()));
  EXPECT_EQ(summary["trainable_params"], result->train.trainable_params);
  EXPECT_EQ(summary["adapter_bytes"], result->train.adapter_bytes);
  EXPECT_EQ(summary["job"]["method"], "full");

  auto base = LoadCausalLm(job.base_model);
  auto tuned = LoadCausalLm(model_dir.string());
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  ASSERT_TRUE(tuned.ok()) << tuned.status().ToString();
  // Every tensor moved (AdamW's first steps change every weight that has a gradient).
  auto before = (*base)->StateDict();
  for (const auto& [name, t] : (*tuned)->StateDict()) {
    ASSERT_TRUE(before.count(name)) << name;
    EXPECT_FALSE(torch::equal(t, before.at(name))) << name << " did not train";
  }
  torch::Tensor ids = testing::SampleIds(1, 16, (*base)->config().vocab_size);
  EXPECT_GT(((*tuned)->Forward(ids) - (*base)->Forward(ids)).abs().max().item<double>(), 1e-4);
}

}  // namespace
}  // namespace lf::worker
