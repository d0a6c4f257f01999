#include "jobs/trial_result.h"

#include <gtest/gtest.h>

#include "common/yaml.h"

namespace lf::jobs {
namespace {

TrialResult Sample() {
  TrialResult r;
  r.stop_reason = StopReason::kEarlyStopped;
  r.steps = 40;
  r.resumed_from_step = 20;
  r.resumed_from_checkpoint = "/runs/t/checkpoints/checkpoint-20";
  r.final_train_loss = 1.25;
  r.eval_loss = 1.5;
  r.eval_perplexity = 4.48;
  r.initial_eval_loss = 2.5;
  r.train_tokens = 1000;
  r.tokens_per_s = 250;
  r.wall_s = 4;
  r.peak_memory_bytes = 1 << 20;
  r.trainable_params = 1024;
  r.base_params = 1 << 20;
  r.devices = 2;
  r.precision = Precision::kFp16;
  r.overflow_skipped_steps = 3;
  r.general_eval_loss_base = 3.0;
  r.general_eval_loss = 3.25;
  r.adapter_dir = "/runs/t/adapter";
  r.adapter_bytes = 4096;
  r.base_model = {{"path", "/models/m"}, {"sha256", "ab"}};
  r.data = {{.path = "/d/train.jsonl", .sha256 = "cd", .examples = 10, .tokens = 500}};
  r.job.emplace();
  r.job->base_model = "/models/m";
  r.job->data.train = "/d/train.jsonl";
  r.job->method = Method::kDora;
  r.job->dora.r = 4;
  r.lorafleet_version = "0.3.0";
  return r;
}

TEST(TrialResultTest, JsonRoundTripsEveryField) {
  const TrialResult r = Sample();
  const Json j = TrialResultToJson(r);
  Result<TrialResult> back = ParseTrialResult(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(TrialResultToJson(*back), j);
  EXPECT_EQ(back->stop_reason, StopReason::kEarlyStopped);
  ASSERT_TRUE(back->job.has_value());
  EXPECT_EQ(back->job->method, Method::kDora);
  EXPECT_EQ(back->job->dora.r, 4);
  EXPECT_EQ(back->data.size(), 1u);
  EXPECT_EQ(back->resumed_from_checkpoint, r.resumed_from_checkpoint);
  EXPECT_EQ(back->precision, Precision::kFp16);
  EXPECT_EQ(back->overflow_skipped_steps, 3);
  EXPECT_EQ(j["precision"], "fp16");
}

TEST(TrialResultTest, DerivedFieldsReadersUse) {
  const Json j = TrialResultToJson(Sample());
  EXPECT_EQ(j["stop_reason"], "early_stopped");
  EXPECT_EQ(j["completed"], true);  // early stopping keeps final outputs
  EXPECT_EQ(j["early_stopped"], true);
  EXPECT_EQ(j["stopped_at_step"], 40);
  EXPECT_EQ(j["device_s"], 8.0);
  EXPECT_EQ(j["forgetting"], 0.25);
  EXPECT_EQ(j["lineage"]["resumed_from"]["step"], 20);
  TrialResult stopped = Sample();
  stopped.stop_reason = StopReason::kStopped;
  stopped.general_eval_loss.reset();
  const Json s = TrialResultToJson(stopped);
  EXPECT_EQ(s["completed"], false);
  EXPECT_EQ(s["stopped_at_step"], nullptr);
  EXPECT_EQ(s["forgetting"], nullptr);
}

TEST(TrialResultTest, ReadsResultsOfEarlierVersions) {
  // A diverged run's stop_reason used to be its message; fields added later are absent.
  Result<TrialResult> old = ParseTrialResult(
      Json{{"stop_reason", "the loss became NaN at step 3; lower train.lr or check the data"},
           {"steps", 2},
           {"eval_loss", nullptr}});
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->stop_reason, StopReason::kDiverged);
  EXPECT_EQ(old->stop_detail, "the loss became NaN at step 3; lower train.lr or check the data");
  EXPECT_FALSE(old->eval_loss.has_value());
  EXPECT_EQ(old->devices, 1);
  EXPECT_FALSE(old->job.has_value());
  // Before train.precision, every run computed in fp32.
  EXPECT_EQ(old->precision, Precision::kFp32);
  EXPECT_EQ(old->overflow_skipped_steps, 0);
}

TEST(TrialResultTest, ErrorsNameTheField) {
  Result<TrialResult> bad = ParseTrialResult(Json{{"steps", "ten"}}, "DONE.result");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().field(), "DONE.result.steps");
  Result<TrialResult> bad_job =
      ParseTrialResult(Json{{"job", {{"base_model", "m"}, {"data", {{"train", "t"}}},
                                     {"method", "lorax"}}}},
                       "result");
  ASSERT_FALSE(bad_job.ok());
  EXPECT_EQ(bad_job.status().field(), "result.job.method");
  EXPECT_FALSE(ParseTrialResult(Json::array()).ok());
  Result<TrialResult> bad_precision = ParseTrialResult(Json{{"precision", "fp8"}}, "result");
  ASSERT_FALSE(bad_precision.ok());
  EXPECT_EQ(bad_precision.status().field(), "result.precision");
}

TEST(TrialResultTest, StopReasonNamesRoundTrip) {
  for (StopReason r : {StopReason::kCompleted, StopReason::kEarlyStopped, StopReason::kStopped,
                       StopReason::kDiverged}) {
    EXPECT_EQ(*ParseStopReason(StopReasonName(r)), r);
  }
  EXPECT_TRUE(HasFinalOutputs(StopReason::kCompleted));
  EXPECT_TRUE(HasFinalOutputs(StopReason::kEarlyStopped));
  EXPECT_FALSE(HasFinalOutputs(StopReason::kStopped));
  EXPECT_FALSE(HasFinalOutputs(StopReason::kDiverged));
}

}  // namespace
}  // namespace lf::jobs
