#include "jobs/asha.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/yaml.h"

namespace lf::jobs {
namespace {

using D = AshaDecision;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

AshaConfig Config(int64_t grace, int64_t rf, std::string mode = "min") {
  return {.metric = "eval_loss",
          .mode = std::move(mode),
          .grace_period = grace,
          .reduction_factor = rf};
}

Result<AshaConfig> Parse(const std::string& yaml) {
  LF_ASSIGN_OR_RETURN(Json doc, ParseYaml(yaml, "sweep.yaml"));
  return ParseAshaConfig(JsonField(doc, FieldPath("sweep.early_stopping")));
}

std::string ParseError(const std::string& yaml) {
  Result<AshaConfig> c = Parse(yaml);
  EXPECT_FALSE(c.ok()) << yaml;
  return c.ok() ? "" : c.status().message();
}

TEST(AshaTest, RungsAreGraceTimesPowersOfTheFactorBelowTheSteps) {
  EXPECT_EQ(AshaRungSteps(Config(10, 3), 200), (std::vector<int64_t>{10, 30, 90}));
  EXPECT_EQ(AshaRungSteps(Config(10, 3), 90), (std::vector<int64_t>{10, 30}));  // 90 is the end
  EXPECT_EQ(AshaRungSteps(Config(1, 2), 10), (std::vector<int64_t>{1, 2, 4, 8}));
  EXPECT_TRUE(AshaRungSteps(Config(10, 3), 10).empty());
  AshaConfig capped = Config(10, 3);
  capped.max_rungs = 2;
  EXPECT_EQ(AshaRungSteps(capped, 100000), (std::vector<int64_t>{10, 30}));
  // Powers that would overflow end the list instead.
  EXPECT_EQ(AshaRungSteps(Config(int64_t{1} << 61, 4), std::numeric_limits<int64_t>::max()).size(),
            1u);
}

// rf 3, mode min: a trial continues when it is within the best third of the values at the rung,
// itself included. As rewards (minus the values) the cut is the 2/3 quantile, linearly
// interpolated at position 2/3 * (n - 1) of the sorted rewards; in eval-loss terms, a trial stops
// when its loss is above the 1/3 quantile of the losses:
//   A 2.0: [2.0]                 position 0     -> cut 2.0;   2.0 <= 2.0    continue (first)
//   B 3.0: [2.0, 3.0]            position 1/3   -> cut 2.333; 3.0 >  2.333  stop
//   C 1.0: [1.0, 2.0, 3.0]       position 2/3   -> cut 1.667; 1.0 <= 1.667  continue
//   D 2.5: [1.0, 2.0, 2.5, 3.0]  position 1     -> cut 2.0;   2.5 >  2.0    stop
TEST(AshaTest, FourTrialsAtTheFirstRungWorkedByHand) {
  AshaState asha(Config(10, 3), 200);
  D a = asha.Record("A", 10, 2.0);
  EXPECT_EQ(a.kind, D::kContinue);
  EXPECT_EQ(a.rung, 0u);
  EXPECT_DOUBLE_EQ(a.cut, 2.0);
  D b = asha.Record("B", 10, 3.0);
  EXPECT_EQ(b.kind, D::kStop);
  EXPECT_NEAR(b.cut, 2.0 + 1.0 / 3, 1e-12);
  EXPECT_EQ(b.recorded, 2u);
  D c = asha.Record("C", 10, 1.0);
  EXPECT_EQ(c.kind, D::kContinue);
  EXPECT_NEAR(c.cut, 1.0 + 2.0 / 3, 1e-12);
  D d = asha.Record("D", 10, 2.5);
  EXPECT_EQ(d.kind, D::kStop);
  EXPECT_DOUBLE_EQ(d.cut, 2.0);
  EXPECT_EQ(d.recorded, 4u);
  EXPECT_EQ(asha.recorded(0).size(), 4u);
  EXPECT_TRUE(asha.recorded(1).empty());
  EXPECT_EQ(asha.StopReason(d),
            "early stopping (asha): eval_loss 2.5 at step 10 is worse than rung 0's cut 2 "
            "(best 1/3 of 4 continue; mode min)");
}

// The same values as accuracies (mode max): the cut is the 2/3 quantile of the values.
//   A 2.0: [2.0] -> 2.0 continue;  B 3.0: [2, 3] at 2/3 -> 2.667, continue;
//   C 1.0: [1, 2, 3] at 4/3 -> 2.333, stop;  D 2.5: [1, 2, 2.5, 3] at 2 -> 2.5, a tie: continue.
TEST(AshaTest, ModeMaxKeepsTheHighestValues) {
  AshaState asha(Config(10, 3, "max"), 200);
  EXPECT_EQ(asha.Record("A", 10, 2.0).kind, D::kContinue);
  EXPECT_EQ(asha.Record("B", 10, 3.0).kind, D::kContinue);
  D c = asha.Record("C", 10, 1.0);
  EXPECT_EQ(c.kind, D::kStop);
  EXPECT_NEAR(c.cut, 2.0 + 1.0 / 3, 1e-12);
  D d = asha.Record("D", 10, 2.5);
  EXPECT_EQ(d.kind, D::kContinue);
  EXPECT_DOUBLE_EQ(d.cut, 2.5);
}

TEST(AshaTest, TiesWithTheCutContinue) {
  AshaState asha(Config(10, 2), 100);
  EXPECT_EQ(asha.Record("A", 10, 1.5).kind, D::kContinue);
  EXPECT_EQ(asha.Record("B", 10, 1.5).kind, D::kContinue);
  EXPECT_EQ(asha.Record("C", 10, 1.5).kind, D::kContinue);
  EXPECT_EQ(asha.Record("D", 10, 1.5000001).kind, D::kStop);
}

TEST(AshaTest, TheFirstTrialAtARungAlwaysContinues) {
  AshaState asha(Config(10, 3), 200);
  EXPECT_EQ(asha.Record("A", 10, 1e9).kind, D::kContinue);
  EXPECT_EQ(asha.Record("B", 10, 1.0).kind, D::kContinue);
  EXPECT_EQ(asha.Record("B", 30, 5.0).kind, D::kContinue);  // first at rung 1
  EXPECT_EQ(asha.Record("C", 30, 4.0).kind, D::kContinue);
  EXPECT_EQ(asha.Record("D", 30, 6.0).kind, D::kStop);
}

TEST(AshaTest, NaNStopsAndIsLeftOutOfLaterCuts) {
  AshaState asha(Config(10, 2), 100);
  D first = asha.Record("A", 10, kNaN);
  EXPECT_EQ(first.kind, D::kStop);  // even first
  EXPECT_TRUE(std::isnan(first.cut));
  EXPECT_EQ(asha.StopReason(first), "early stopping (asha): eval_loss is NaN at step 10, rung 0");
  EXPECT_EQ(asha.Record("B", 10, 2.0).kind, D::kContinue);  // its own cut: the NaN is no value
  EXPECT_EQ(asha.Record("C", 10, kNaN).kind, D::kStop);
  D d = asha.Record("D", 10, 2.0);
  EXPECT_EQ(d.kind, D::kContinue);  // [2.0, 2.0] without the NaNs: a tie
  EXPECT_EQ(d.recorded, 4u);
}

TEST(AshaTest, ReportsBetweenRungsAndRepeatsDecideNothing) {
  AshaState asha(Config(10, 3), 200);  // rungs at 10, 30, 90
  EXPECT_EQ(asha.Record("A", 5, 3.0).kind, D::kNotARung);
  EXPECT_EQ(asha.Record("A", 10, 3.0).kind, D::kContinue);
  EXPECT_EQ(asha.Record("A", 11, 9.0).kind, D::kNotARung);
  EXPECT_EQ(asha.Record("A", 20, 9.0).kind, D::kNotARung);
  EXPECT_EQ(asha.Record("A", 10, 9.0).kind, D::kNotARung);  // a replay after a resume
  EXPECT_DOUBLE_EQ(asha.recorded(0).at("A"), 3.0);
  // The first report past a rung's step counts for it: eval every 7 steps reaches 30 at 35.
  D late = asha.Record("A", 35, 2.0);
  EXPECT_EQ(late.kind, D::kContinue);
  EXPECT_EQ(late.rung, 1u);
  EXPECT_EQ(late.rung_step, 30);
  EXPECT_EQ(late.step, 35);
  // A report that skips rungs counts for the highest it reached only; past the last rung the
  // trial has nothing more to decide.
  EXPECT_EQ(asha.Record("B", 95, 2.5).rung, 2u);
  EXPECT_TRUE(asha.recorded(1).count("B") == 0);
  EXPECT_EQ(asha.Record("B", 150, 0.1).kind, D::kNotARung);
  D stop = asha.Record("C", 31, 2.5);
  EXPECT_EQ(stop.kind, D::kStop);
  EXPECT_EQ(asha.StopReason(stop),
            "early stopping (asha): eval_loss 2.5 at step 31 is worse than rung 1 (step 30)'s cut "
            "2.16667 (best 1/3 of 2 continue; mode min)");
}

TEST(AshaTest, RestoreRebuildsTheRungsWithoutDeciding) {
  AshaState live(Config(10, 2), 100), restored(Config(10, 2), 100);
  live.Record("A", 10, 1.0);
  live.Record("B", 10, 3.0);  // stopped
  live.Record("A", 20, 0.8);
  const std::vector<AshaState::Point> a = {{10, 1.0}, {15, 0.9}, {20, 0.8}};
  const std::vector<AshaState::Point> b = {{10, 3.0}, {12, 2.9}};
  restored.Restore("B", b);  // in any order of trials
  restored.Restore("A", a);
  for (size_t r = 0; r < live.rung_steps().size(); ++r) {
    EXPECT_EQ(restored.recorded(r), live.recorded(r)) << "rung " << r;
  }
  EXPECT_EQ(restored.Record("C", 10, 2.0).kind, live.Record("C", 10, 2.0).kind);
  EXPECT_EQ(restored.Record("A", 20, 0.1).kind, D::kNotARung);
}

TEST(AshaTest, ParsesTheBlockAndWritesItBack) {
  Result<AshaConfig> c = Parse(
      "{type: asha, metric: loss, mode: max, grace_period: 5, reduction_factor: 4, max_rungs: 2}");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*c, (AshaConfig{.metric = "loss",
                            .mode = "max",
                            .grace_period = 5,
                            .reduction_factor = 4,
                            .max_rungs = 2}));
  Json written = AshaConfigToJson(*c);
  EXPECT_EQ(*ParseAshaConfig(JsonField(written, FieldPath("x"))), *c);
  written.erase("max_rungs");
  EXPECT_EQ(ParseAshaConfig(JsonField(written, FieldPath("x")))->max_rungs, 0);
}

TEST(AshaTest, ParseErrorsNameTheField) {
  const std::string ok = "type: asha, mode: min, grace_period: 10, reduction_factor: 3";
  EXPECT_EQ(ParseError("{" + ok + "}"), "sweep.early_stopping.metric: required field is missing");
  EXPECT_EQ(
      ParseError("{metric: loss, type: asha, mode: min, grace_period: 10, reduction_factor: 1}"),
      "sweep.early_stopping.reduction_factor: expected an integer of at least 2 (the best "
      "1/reduction_factor of each rung continue), got 1");
  EXPECT_EQ(
      ParseError("{metric: loss, type: asha, mode: min, grace_period: 0, reduction_factor: 3}"),
      "sweep.early_stopping.grace_period: expected a positive number of steps before the "
      "first rung, got 0");
  EXPECT_EQ(ParseError("{metric: loss, type: hyperband, mode: min, grace_period: 1, "
                       "reduction_factor: 3}"),
            "sweep.early_stopping.type: unknown early stopping rule 'hyperband'; the one built "
            "is asha");
  EXPECT_EQ(ParseError("{metric: accuracy, " + ok + "}"),
            "sweep.early_stopping.metric: 'accuracy' is not a metric trials report; expected one "
            "of loss, eval_loss, grad_norm, lr, tokens_per_s");
  EXPECT_EQ(ParseError("{metric: loss, type: asha, mode: lowest, grace_period: 1, "
                       "reduction_factor: 3}"),
            "sweep.early_stopping.mode: expected min (lower loss is better) or max, got 'lowest'");
  EXPECT_NE(ParseError("{metric: loss, grace: 3, " + ok + "}")
                .find("sweep.early_stopping.grace: unknown key; expected one of: type, metric"),
            std::string::npos);
  EXPECT_EQ(ParseError("{metric: loss, max_rungs: 0, " + ok + "}"),
            "sweep.early_stopping.max_rungs: expected a positive integer, got 0");
  EXPECT_EQ(ParseError("asha"),
            "sweep.early_stopping: expected a mapping such as {type: asha, metric: eval_loss, "
            "mode: min, grace_period: 10, reduction_factor: 3}, got \"asha\"");
}

TEST(AshaTest, TheJobMustReportTheMetricAndReachARung) {
  JobSpec job;
  job.data.eval = "eval.jsonl";
  job.train.steps = 100;
  job.train.eval_every = 10;
  const FieldPath at("sweep.early_stopping");
  EXPECT_TRUE(CheckAshaForJob(Config(10, 3), job, at, "sweep.base").ok());
  job.train.eval_every = 0;
  EXPECT_EQ(CheckAshaForJob(Config(10, 3), job, at, "sweep.base").message(),
            "sweep.early_stopping.metric: eval_loss is reported every train.eval_every steps, and "
            "sweep.base.train.eval_every is 0 (evaluate only at the end, after the last rung); "
            "set train.eval_every (e.g. 10, the grace period) so trials report it at their "
            "rungs, or use metric: loss");
  AshaConfig loss = Config(10, 3);
  loss.metric = "loss";
  EXPECT_TRUE(CheckAshaForJob(loss, job, at, "sweep.base").ok());  // every step reports loss
  job.train.eval_every = 10;
  job.data.eval.clear();
  EXPECT_EQ(
      CheckAshaForJob(Config(10, 3), job, at, "sweep.base").message(),
      "sweep.early_stopping.metric: eval_loss needs evaluation data, and sweep.base.data.eval "
      "is not set; set it, or use metric: loss");
  EXPECT_EQ(CheckAshaForJob(Config(100, 3), job, at, "sweep.base").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckAshaForJob(loss, JobSpec{.train = {.steps = 10}}, at, "sweep.base").message(),
            "sweep.early_stopping.grace_period: 10 is not below sweep.base.train.steps (10), so no "
            "trial reaches a rung; lower grace_period");
}

}  // namespace
}  // namespace lf::jobs
