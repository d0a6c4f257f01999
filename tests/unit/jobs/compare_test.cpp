#include "jobs/compare.h"

#include <gtest/gtest.h>

#include <map>

namespace lf::jobs {
namespace {

using S = TrialState;

TrialSummary Trial(const std::string& id, S state, Method method = Method::kLora,
                   std::optional<double> eval_loss = std::nullopt, int64_t adapter_bytes = 0) {
  TrialSummary t{.trial_id = id, .sweep_id = "s1", .state = state};
  t.job.base_model = "/models/m";
  t.job.method = method;
  if (HasAdapter(state)) {
    TrialResult r;
    r.eval_loss = eval_loss;
    r.adapter_bytes = adapter_bytes;
    r.trainable_params = 10;
    r.base_params = 1000;
    r.wall_s = 5;
    t.result = r;
  }
  return t;
}

std::vector<std::string> Ids(const Comparison& c) {
  std::vector<std::string> ids;
  for (const CompareRow& row : c.rows) ids.push_back(row.trial.trial_id);
  return ids;
}

TEST(CompareTest, CompletedThenStoppedByEvalLossThenTheRestInOrder) {
  Result<Comparison> c = Compare({Trial("a", S::kFailed), Trial("b", S::kStopped, {}, 1.0, 10),
                                  Trial("c", S::kCompleted, {}, 2.0, 10),
                                  Trial("d", S::kQueued),
                                  Trial("e", S::kCompleted, {}, 1.5, 10),
                                  Trial("f", S::kCompleted, {}, std::nullopt, 10)});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(Ids(*c), (std::vector<std::string>{"e", "c", "f", "b", "a", "d"}));
  EXPECT_EQ(c->base_model, "/models/m");
}

TEST(CompareTest, ParetoFrontAmongTrialsWithAnAdapter) {
  // id -> (eval loss, bytes): r4 is beaten by r2 on both, r8 ties r2's loss but is larger.
  Result<Comparison> c = Compare({Trial("r1", S::kCompleted, {}, 2.0, 100),
                                  Trial("r2", S::kStopped, {}, 1.8, 200),
                                  Trial("r4", S::kCompleted, {}, 1.9, 400),
                                  Trial("r8", S::kCompleted, {}, 1.8, 800),
                                  Trial("r16", S::kRunning)});
  ASSERT_TRUE(c.ok());
  std::map<std::string, bool> front;
  for (const CompareRow& row : c->rows) front[row.trial.trial_id] = row.pareto_front;
  EXPECT_EQ(front, (std::map<std::string, bool>{
                       {"r1", true}, {"r2", true}, {"r4", false}, {"r8", false}, {"r16", false}}));
}

TEST(CompareTest, ParetoFrontOverASweepsStatedObjectives) {
  std::vector<TrialSummary> trials = {Trial("a", S::kCompleted, {}, 1.0, 1000),
                                      Trial("b", S::kCompleted, {}, 2.0, 1000),
                                      Trial("c", S::kCompleted, {}, 2.5, 1000)};
  trials[0].result->trainable_params = 100;
  trials[1].result->trainable_params = 10;
  trials[2].result->trainable_params = 50;
  auto front = [](const Comparison& c) {
    std::map<std::string, bool> on;
    for (const CompareRow& row : c.rows) on[row.trial.trial_id] = row.pareto_front;
    return on;
  };
  // Quality and size (the default): all the same size, so the lowest loss alone.
  Result<Comparison> quality_size = Compare(trials);
  EXPECT_EQ(quality_size->objectives, DefaultFrontObjectives());
  EXPECT_EQ(front(*quality_size), (std::map<std::string, bool>{{"a", true}, {"b", false}, {"c", false}}));
  // eval_loss and trainable_params: b trades loss for parameters; c is beaten by b on both.
  Result<Comparison> stated = Compare(
      trials, {{.name = "eval_loss", .mode = "min"}, {.name = "trainable_params", .mode = "min"}});
  EXPECT_EQ(front(*stated), (std::map<std::string, bool>{{"a", true}, {"b", true}, {"c", false}}));
  // A max objective turns the order round: most parameters and lowest loss is a.
  Result<Comparison> more = Compare(trials, {{.name = "trainable_params", .mode = "max"}});
  EXPECT_EQ(front(*more), (std::map<std::string, bool>{{"a", true}, {"b", false}, {"c", false}}));
}

TEST(CompareTest, CostAgainstTheCheapestFullBaselineAndTrainablePercent) {
  TrialSummary full = Trial("full", S::kCompleted, Method::kFull, 1.0, 1000);
  full.result->wall_s = 20;
  TrialSummary full2 = Trial("full2", S::kCompleted, Method::kFull, 1.1, 1000);
  full2.result->wall_s = 40;
  Result<Comparison> c = Compare({Trial("lora", S::kCompleted, Method::kLora, 1.2, 10), full,
                                  full2, Trial("q", S::kQueued)});
  ASSERT_TRUE(c.ok());
  for (const CompareRow& row : c->rows) {
    const std::string& id = row.trial.trial_id;
    if (id == "q") {
      EXPECT_FALSE(row.device_s_vs_full.has_value());
      EXPECT_FALSE(row.trainable_pct.has_value());
      continue;
    }
    const double want = id == "lora" ? 0.25 : id == "full" ? 1.0 : 2.0;
    EXPECT_DOUBLE_EQ(*row.device_s_vs_full, want) << id;
    EXPECT_DOUBLE_EQ(*row.trainable_pct, 1.0) << id;
  }
}

TEST(CompareTest, RefusesTrialsOfDifferentBaseModels) {
  TrialSummary other = Trial("b", S::kCompleted, {}, 1.0, 10);
  other.job.base_model = "/models/other";
  Result<Comparison> c = Compare({Trial("a", S::kCompleted, {}, 1.0, 10), other});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "trial b trains /models/other but trial a trains /models/m; compare sweeps that "
            "share a base model");
}

TEST(CompareTest, ResultsOfTrialsWithoutAnAdapterAreIgnored) {
  TrialSummary failed = Trial("f", S::kFailed);
  failed.result = TrialResult{.eval_loss = 0.1, .adapter_bytes = 1};
  Result<Comparison> c = Compare({failed, Trial("a", S::kCompleted, {}, 1.0, 10)});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(Ids(*c), (std::vector<std::string>{"a", "f"}));
  EXPECT_FALSE(c->rows[1].trial.result.has_value());
  EXPECT_FALSE(c->rows[1].pareto_front);
  EXPECT_TRUE(c->rows[0].pareto_front);
}

TEST(CompareTest, RowJsonCarriesLoraSettingsResultsAndEveryColumn) {
  TrialSummary t = Trial("a", S::kCompleted, Method::kDora, 1.25, 64);
  t.job.dora.r = 4;
  t.job.dora.alpha = 8;
  t.job.train.lr = 1e-3;
  t.params = {{"dora.r", 4}};
  Result<Comparison> c = Compare({t, Trial("b", S::kQueued, Method::kIa3)});
  ASSERT_TRUE(c.ok());
  const Json a = CompareRowToJson(c->rows[0]);
  EXPECT_EQ(a["method"], "dora");
  EXPECT_EQ(a["r"], 4);
  EXPECT_EQ(a["alpha"], 8.0);
  EXPECT_EQ(a["lr"], 1e-3);
  EXPECT_EQ(a["eval_loss"], 1.25);
  EXPECT_EQ(a["has_adapter"], true);
  EXPECT_EQ(a["params"]["dora.r"], 4);
  const Json b = CompareRowToJson(c->rows[1]);
  EXPECT_EQ(b["r"], nullptr);  // IA3 has no rank
  EXPECT_EQ(b["eval_loss"], nullptr);
  EXPECT_EQ(b["has_adapter"], false);
  // Every column a client renders is a key of every row.
  for (const CompareColumn& col : CompareColumns()) {
    EXPECT_TRUE(a.contains(std::string(col.key))) << col.key;
    EXPECT_TRUE(b.contains(std::string(col.key))) << col.key;
  }
  EXPECT_EQ(CompareColumnsToJson().size(), CompareColumns().size());
}

}  // namespace
}  // namespace lf::jobs
