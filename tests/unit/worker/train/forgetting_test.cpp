// Forgetting and cost in a trial's summary: data.general_eval scored by the base before training
// and by the trained model after; device-seconds.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_util.h"
#include "model/test_models.h"
#include "worker/data/batch.h"
#include "worker/data/jsonl_reader.h"
#include "worker/model/causal_lm.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/train/trainer.h"
#include "worker/worker_api.h"

namespace lf::worker {
namespace {

namespace fs = std::filesystem;
using testing::kRepoRoot;

jobs::JobSpec Job(const std::string& method, const std::string& out) {
  jobs::JobSpec job;
  job.method = *jobs::ParseMethod(method);
  job.base_model = kRepoRoot + "/examples/models/tiny-gpt2";
  job.data.train = kRepoRoot + "/examples/data/medical/train.jsonl";
  job.data.general_eval = kRepoRoot + "/examples/data/general/eval.jsonl";
  job.data.seq_len = 64;
  job.train.steps = 6;
  job.train.batch_size = 4;
  job.train.lr = 1e-2;  // large, so the medical notes push the general loss up
  job.train.eval_batches = 4;
  job.output = testing::TempDir(out);
  return job;
}

TEST(ForgettingTest, GeneralLossBeforeAndAfterTrainingAndDeviceSeconds) {
  jobs::JobSpec job = Job("lora", "forgetting_lora");
  job.lora.target_modules = {"c_attn", "c_proj", "c_fc"};
  auto result = RunTrainJob(job, {.progress = false, .resume = false});
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_TRUE(result->train.general_eval_loss_base && result->train.general_eval_loss);

  // The base's loss, computed here without lorafleet's job code.
  auto model = LoadCausalLm(job.base_model);
  auto tokenizer = LoadTokenizer(job.base_model);
  ASSERT_TRUE(model.ok() && tokenizer.ok());
  auto examples = LoadJsonlExamples(job.data.general_eval, **tokenizer, nullptr);
  ASSERT_TRUE(examples.ok()) << examples.status().ToString();
  auto batches = EvalBatches(*examples, 64, 4, (*tokenizer)->eos_id().value_or(0));
  ASSERT_TRUE(batches.ok());
  EXPECT_NEAR(*result->train.general_eval_loss_base, Evaluate(**model, *batches, 4).loss, 1e-6);
  EXPECT_GT(*result->train.general_eval_loss, *result->train.general_eval_loss_base);  // it forgot

  Json summary = Json::parse(*ReadFileToString((fs::path(job.output) / "result.json").string()));
  EXPECT_DOUBLE_EQ(summary["forgetting"].get<double>(),
                   *result->train.general_eval_loss - *result->train.general_eval_loss_base);
  EXPECT_EQ(summary["devices"], 1);
  EXPECT_DOUBLE_EQ(summary["device_s"].get<double>(), result->train.wall_s);
  EXPECT_EQ(summary["job"]["data"]["general_eval"], job.data.general_eval);
  ASSERT_EQ(summary["data"].size(), 2u);  // the general set's hash is part of the lineage
  EXPECT_EQ(summary["data"][1]["path"], job.data.general_eval);

  // QLoRA replaces the base weights; its "before" is still the untouched base's.
  auto qlora = RunTrainJob(Job("qlora", "forgetting_qlora"), {.progress = false, .resume = false});
  ASSERT_TRUE(qlora.ok()) << qlora.status().ToString();
  EXPECT_NEAR(*qlora->train.general_eval_loss_base, *result->train.general_eval_loss_base, 1e-6);

  // Without a general set nothing is measured.
  jobs::JobSpec plain = Job("lora", "forgetting_none");
  plain.data.general_eval.clear();
  auto none = RunTrainJob(plain, {.progress = false, .resume = false});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->train.general_eval_loss_base.has_value());
  Json s = Json::parse(*ReadFileToString((fs::path(plain.output) / "result.json").string()));
  EXPECT_TRUE(s["forgetting"].is_null());
}

}  // namespace
}  // namespace lf::worker
