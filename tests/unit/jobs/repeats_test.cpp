#include "jobs/repeats.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lf::jobs {
namespace {

// A completed trial of configuration lora.r = r with one seed's eval loss.
TrialSummary Repeat(const std::string& id, int r, int seed, std::optional<double> eval_loss,
                    TrialState state = TrialState::kCompleted) {
  TrialSummary t{.trial_id = id, .sweep_id = "s1", .state = state};
  t.params = {{"lora.r", r}, {"train.seed", seed}};
  t.job.base_model = "/models/m";
  if (HasAdapter(state)) {
    t.result = TrialResult{};
    t.result->eval_loss = eval_loss;
  }
  return t;
}

Comparison Of(std::vector<TrialSummary> trials) { return *Compare(std::move(trials)); }

TEST(RepeatsTest, StudentsQuantilesAreTheTablesAndTendToTheNormal) {
  EXPECT_DOUBLE_EQ(StudentT95(1), 12.706);
  EXPECT_DOUBLE_EQ(StudentT95(4), 2.776);
  EXPECT_DOUBLE_EQ(StudentT95(4.9), 2.776);  // Welch's fractional df rounds down
  EXPECT_DOUBLE_EQ(StudentT95(30), 2.042);
  EXPECT_DOUBLE_EQ(StudentT95(1e6), 1.960);
  EXPECT_DOUBLE_EQ(StudentT95(0.2), 12.706);
}

TEST(RepeatsTest, EachConfigurationGetsItsMeanSpreadAndInterval) {
  // r=8: 1.0, 1.2, 1.4 -> mean 1.2, sd 0.2, half-width 4.303 * 0.2 / sqrt(3).
  std::vector<RepeatGroup> groups = GroupRepeats(
      Of({Repeat("a", 8, 1, 1.0), Repeat("b", 8, 2, 1.2), Repeat("c", 8, 3, 1.4),
          Repeat("d", 2, 1, 2.0), Repeat("e", 2, 2, 2.1), Repeat("f", 2, 3, 2.2)}));
  ASSERT_EQ(groups.size(), 2u);
  const RepeatGroup& best = groups[0];
  EXPECT_EQ(best.params, (Json{{"lora.r", 8}}));  // the seed is what varies, not the config
  EXPECT_EQ(best.trial_ids, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(best.eval_loss.has_value());
  EXPECT_EQ(best.eval_loss->n, 3);
  EXPECT_NEAR(best.eval_loss->mean, 1.2, 1e-12);
  EXPECT_NEAR(best.eval_loss->stddev, 0.2, 1e-12);
  const double half = 4.303 * 0.2 / std::sqrt(3.0);
  EXPECT_NEAR(*best.eval_loss->low, 1.2 - half, 1e-12);
  EXPECT_NEAR(*best.eval_loss->high, 1.2 + half, 1e-12);
  EXPECT_EQ(best.versus_best, VersusBest::kBest);
  // 2.1 +- 0.1 against 1.2 +- 0.2 over three seeds each: t = 6.97 > t(2.9 df) = 4.303.
  EXPECT_EQ(groups[1].versus_best, VersusBest::kWorse);
}

TEST(RepeatsTest, OverlappingRepeatsAreNotCalledWorse) {
  std::vector<RepeatGroup> groups = GroupRepeats(
      Of({Repeat("a", 8, 1, 1.0), Repeat("b", 8, 2, 1.6), Repeat("c", 4, 1, 1.1),
          Repeat("d", 4, 2, 1.7)}));
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].versus_best, VersusBest::kBest);
  EXPECT_EQ(groups[1].versus_best, VersusBest::kIndistinct)
      << "a 0.1 difference between two seeds that differ by 0.6 was called significant";
  EXPECT_EQ(VersusBestName(groups[1].versus_best), "indistinct");
}

TEST(RepeatsTest, UnmeasuredTrialsCountButDoNotEnterTheInterval) {
  std::vector<RepeatGroup> groups = GroupRepeats(
      Of({Repeat("a", 8, 1, 1.0), Repeat("b", 8, 2, std::nullopt, TrialState::kFailed),
          Repeat("c", 4, 1, 1.5), Repeat("d", 4, 2, 1.5), Repeat("q", 16, 1, std::nullopt,
                                                                  TrialState::kQueued)}));
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].params, (Json{{"lora.r", 8}}));
  EXPECT_EQ(groups[0].trial_ids.size(), 2u);
  EXPECT_EQ(groups[0].eval_loss->n, 1);
  EXPECT_FALSE(groups[0].eval_loss->low.has_value()) << "an interval from one value";
  EXPECT_EQ(groups[1].versus_best, VersusBest::kUnknown);  // the best has one measured repeat
  EXPECT_EQ(groups[2].params, (Json{{"lora.r", 16}}));    // unmeasured last
  EXPECT_FALSE(groups[2].eval_loss.has_value());
  Json j = RepeatGroupToJson(groups[0]);
  EXPECT_EQ(j["n"], 2);
  EXPECT_EQ(j["eval_loss"]["n"], 1);
  EXPECT_TRUE(j["eval_loss"]["low"].is_null());
  EXPECT_EQ(j["versus_best"], "best");
}

TEST(RepeatsTest, ASweepWithoutRepeatsHasNoGroups) {
  EXPECT_TRUE(GroupRepeats(Of({Repeat("a", 8, 1, 1.0), Repeat("b", 4, 1, 1.1)})).empty());
}

}  // namespace
}  // namespace lf::jobs
