// The adaptive searches as pure functions: TPE's suggestions (startup, determinism, that they
// learn on continuous, log, integer and categorical axes, the constant liar, several objectives),
// Hyperband's brackets, PBT's exploit and explore, and the sweep document's search blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "common/yaml.h"
#include "jobs/asha.h"
#include "jobs/pbt.h"
#include "jobs/sweep_spec.h"
#include "jobs/tpe.h"

namespace lf::jobs {
namespace {

using Outcome = TpeObservation::Outcome;

SweepSpec Spec(const std::string& space,
               const std::string& extra = "search: tpe\nnum_samples: 40\n") {
  const std::string yaml =
      "name: s\nbase:\n  base_model: m\n  data: {train: t.jsonl, eval: e.jsonl}\n"
      "  train: {steps: 60, eval_every: 20, checkpoint_every: 20}\nspace:\n" +
      space + "\n" + extra;
  auto doc = ParseYaml(yaml, "s.yaml");
  EXPECT_TRUE(doc.ok()) << doc.status().ToString();
  auto spec = ParseSweepSpec(*doc);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

const std::vector<Objective> kLoss = {{.name = "eval_loss", .mode = "min"}};

// Runs TPE sequentially for n trials of `f` (lower is better); returns the suggestions in order.
std::vector<Json> RunTpe(const SweepSpec& spec, int n,
                         const std::function<double(const Json&)>& f) {
  std::vector<TpeObservation> history;
  std::vector<Json> out;
  for (int i = 0; i < n; ++i) {
    Json p = SuggestTpe(spec, kLoss, history, static_cast<uint32_t>(i));
    out.push_back(p);
    history.push_back({.index = static_cast<uint32_t>(i),
                       .params = p,
                       .outcome = Outcome::kComplete,
                       .values = {f(p)}});
  }
  return out;
}

TEST(TpeTest, StartupTrialsAreRandomSearchsAndSuggestionsAreDeterministic) {
  SweepSpec spec = Spec("  train.lr: {loguniform: [1.0e-5, 1.0e-1]}");
  for (uint32_t i = 0; i < 10; ++i)
    EXPECT_EQ(SuggestTpe(spec, kLoss, {}, i), RandomParams(spec, i));
  auto f = [](const Json& p) { return std::abs(std::log10(p["train.lr"].get<double>()) + 3); };
  EXPECT_EQ(RunTpe(spec, 25, f), RunTpe(spec, 25, f));
  spec.seed = 7;
  EXPECT_NE(RunTpe(spec, 25, f),
            (RunTpe(Spec("  train.lr: {loguniform: [1.0e-5, 1.0e-1]}"), 25, f)));
}

TEST(TpeTest, LearnsWhereTheObjectiveIsLowOnEveryKindOfAxis) {
  SweepSpec spec = Spec(
      "  train.lr: {loguniform: [1.0e-5, 1.0e-1]}\n  lora.dropout: {uniform: [0.0, 0.5]}\n"
      "  lora.alpha: {int: [1, 64]}\n  lora.r: [2, 4, 8, 16]");
  auto f = [](const Json& p) {
    return std::pow(std::log10(p["train.lr"].get<double>()) + 3, 2) +
           std::pow((p["lora.dropout"].get<double>() - 0.1) * 10, 2) +
           std::pow((p["lora.alpha"].get<double>() - 48) / 10, 2) + (p["lora.r"] == 8 ? 0 : 2);
  };
  std::vector<Json> tpe = RunTpe(spec, 50, f);
  double tpe_tail = 0, random_tail = 0;
  for (int i = 30; i < 50; ++i) {
    tpe_tail += f(tpe[i]);
    random_tail += f(RandomParams(spec, static_cast<uint32_t>(i)));
    EXPECT_TRUE(tpe[i]["lora.alpha"].is_number_integer());
    EXPECT_GE(tpe[i]["lora.alpha"].get<int64_t>(), 1);
    EXPECT_LE(tpe[i]["lora.alpha"].get<int64_t>(), 64);
    EXPECT_GE(tpe[i]["train.lr"].get<double>(), 1e-5);
    EXPECT_LE(tpe[i]["lora.dropout"].get<double>(), 0.5);
  }
  EXPECT_LT(tpe_tail, 0.5 * random_tail);  // its late suggestions are far better than chance
}

TEST(TpeTest, MultivariateTpeLearnsToo) {
  SweepSpec spec = Spec("  lora.dropout: {uniform: [0.0, 0.9]}\n  lora.r: [2, 4]",
                        "search: tpe\nnum_samples: 40\ntpe: {multivariate: true}\n");
  auto f = [](const Json& p) { return std::abs(p["lora.dropout"].get<double>() - 0.3); };
  std::vector<Json> s = RunTpe(spec, 40, f);
  double tail = 0;
  for (int i = 30; i < 40; ++i) tail += f(s[i]);
  EXPECT_LT(tail / 10, 0.1);  // uniform draws average 0.25 away
}

TEST(TpeTest, TheConstantLiarKeepsSuggestionsAwayFromTrialsStillRunning) {
  SweepSpec spec = Spec("  lora.dropout: {uniform: [0.0, 0.9]}");
  auto f = [](const Json& p) { return std::abs(p["lora.dropout"].get<double>() - 0.3); };
  std::vector<TpeObservation> history;
  for (const Json& p : RunTpe(spec, 20, f)) {
    history.push_back({.index = static_cast<uint32_t>(history.size()),
                       .params = p,
                       .outcome = Outcome::kComplete,
                       .values = {f(p)}});
  }
  // Four trials still running, at the best spot or far from it: the same number of trials either
  // way, so only where the running ones are differs.
  auto with_running_at = [&](double at) {
    std::vector<TpeObservation> h = history;
    for (int i = 0; i < 4; ++i) {
      h.push_back({.index = static_cast<uint32_t>(h.size()),
                   .params = {{"lora.dropout", at}},
                   .outcome = Outcome::kRunning});
    }
    double near = 0;  // how many of 40 suggestions land within 0.05 of the best spot
    for (uint32_t i = 24; i < 64; ++i) near += f(SuggestTpe(spec, kLoss, h, i)) < 0.05 ? 1 : 0;
    return near;
  };
  EXPECT_LT(with_running_at(0.3), with_running_at(0.85));
  // Without the liar, running trials change nothing.
  spec.tpe.constant_liar = false;
  std::vector<TpeObservation> h = history;
  h.push_back({.index = 20, .params = {{"lora.dropout", 0.3}}, .outcome = Outcome::kRunning});
  EXPECT_EQ(SuggestTpe(spec, kLoss, h, 21), SuggestTpe(spec, kLoss, history, 21));
}

TEST(TpeTest, LearnsWhichChoiceIsBest) {
  SweepSpec spec = Spec("  lora.r: [2, 4, 8, 16]\n  lora.dropout: {uniform: [0.0, 0.9]}");
  auto f = [](const Json& p) {
    return (p["lora.r"] == 8 ? 0.0 : 1.0) + std::abs(p["lora.dropout"].get<double>() - 0.3);
  };
  std::vector<Json> s = RunTpe(spec, 40, f);
  int r8 = 0;
  for (int i = 20; i < 40; ++i) r8 += s[i]["lora.r"] == 8 ? 1 : 0;
  EXPECT_GT(r8, 10);  // chance: 5 of 20
}

TEST(TpeTest, SeveralObjectivesAndPrunedTrialsAreUsed) {
  SweepSpec spec = Spec("  lora.dropout: {uniform: [0.0, 0.9]}\n  lora.r: [2, 4, 8, 16]");
  const std::vector<Objective> two = {{.name = "eval_loss"}, {.name = "trainable_params"}};
  std::vector<TpeObservation> history;
  for (uint32_t i = 0; i < 30; ++i) {
    Json p = RandomParams(spec, i);
    const double d = p["lora.dropout"].get<double>();
    const double r = p["lora.r"].get<double>();
    // Loss falls with rank, parameters grow with it: a front along r, dropout 0.2 best.
    history.push_back({.index = i,
                       .params = p,
                       .outcome = i % 5 == 4 ? Outcome::kPruned : Outcome::kComplete,
                       .values = {std::abs(d - 0.2) + 1.0 / r, r * 100},
                       .step = 20});
  }
  Json a = SuggestTpe(spec, two, history, 30);
  EXPECT_EQ(a, SuggestTpe(spec, two, history, 30));
  double near = 0;
  for (uint32_t i = 30; i < 60; ++i) {
    near += std::abs(SuggestTpe(spec, two, history, i)["lora.dropout"].get<double>() - 0.2);
  }
  EXPECT_LT(near / 30, 0.2);  // uniform draws average 0.29 away
  EXPECT_EQ(TpeGamma(9), 1);
  EXPECT_EQ(TpeGamma(11), 2);
  EXPECT_EQ(TpeGamma(1000), 25);
}

TEST(HyperbandTest, BracketsStartAtSuccessiveRungsAndTakeTrialsByTheirBudget) {
  const AshaConfig asha{.metric = "eval_loss", .grace_period = 10, .reduction_factor = 2};
  ASSERT_EQ(HyperbandBrackets(asha, 60), 4u);
  EXPECT_EQ(AshaRungSteps(*HyperbandBracketConfig(asha, 60, 0), 60),
            (std::vector<int64_t>{10, 20, 40}));
  EXPECT_EQ(AshaRungSteps(*HyperbandBracketConfig(asha, 60, 2), 60), (std::vector<int64_t>{40}));
  EXPECT_FALSE(HyperbandBracketConfig(asha, 60, 3).has_value());
  // Budgets ceil(4 * 2^s / (s + 1)) for s = 3..0: 8, 6, 4, 4 of 22.
  std::map<size_t, int> counts;
  for (uint32_t i = 0; i < 22000; ++i) ++counts[HyperbandBracket(asha, 60, 5, i)];
  EXPECT_NEAR(counts[0], 8000, 400);
  EXPECT_NEAR(counts[1], 6000, 400);
  EXPECT_NEAR(counts[2], 4000, 400);
  EXPECT_NEAR(counts[3], 4000, 400);
}

TEST(PbtTest, TheBottomQuantileCopiesATopTrialAndExploresItsMutableKeys) {
  SweepSpec spec = Spec("  train.lr: {loguniform: [1.0e-4, 1.0e-2]}\n  train.warmup: [0, 5, 10]",
                        "search: pbt\nnum_samples: 4\n"
                        "pbt: {perturbation_interval: 20, mutable: [train.lr]}\n");
  std::vector<PbtMember> population;
  for (uint32_t i = 0; i < 4; ++i) {
    population.push_back({.trial_id = "t" + std::to_string(i),
                          .index = i,
                          .value = 1.0 + i,
                          .can_source = true,
                          .params = {{"train.lr", 1e-3}, {"train.warmup", 5 * int(i % 3)}}});
  }
  const Objective loss{.name = "eval_loss"};
  // m = ceil(4 * 0.25) = 1: only t3 (worst) copies, and only t0 (best) is copied.
  for (const char* keep : {"t0", "t1", "t2"})
    EXPECT_FALSE(DecidePbt(spec, loss, population, keep, 1));
  int resampled = 0;
  for (uint64_t salt = 0; salt < 200; ++salt) {
    auto e = DecidePbt(spec, loss, population, "t3", salt);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->source_id, "t0");
    EXPECT_EQ(e->params["train.warmup"], 0);  // not mutable: the source's
    const double lr = e->params["train.lr"].get<double>();
    EXPECT_GE(lr, 1e-4);
    EXPECT_LE(lr, 1e-2);
    if (std::abs(lr - 8e-4) > 1e-12 && std::abs(lr - 1.2e-3) > 1e-12) ++resampled;
  }
  EXPECT_NEAR(resampled, 50, 25);  // resample_probability 0.25
  // A mode of max ranks the other way; a top trial without a checkpoint cannot be copied.
  EXPECT_EQ(DecidePbt(spec, {.name = "eval_loss", .mode = "max"}, population, "t0", 1)->source_id,
            "t3");
  population[0].can_source = false;
  EXPECT_FALSE(DecidePbt(spec, loss, population, "t3", 1));
}

TEST(SearchSpecTest, SearchBlocksRoundTripAndAdaptiveSweepsStartSmall) {
  SweepSpec tpe = Spec("  train.lr: {loguniform: [1.0e-4, 1.0e-2]}",
                       "search: tpe\nnum_samples: 30\ntpe: {n_startup_trials: 4, "
                       "constant_liar: false}\nobjectives: {eval_loss: min, adapter_bytes: min}\n");
  EXPECT_EQ(*ParseSweepSpec(SweepSpecToJson(tpe)), tpe);
  EXPECT_EQ(ExpandSweep(tpe)->size(), 4u);
  EXPECT_EQ(PlannedTrials(tpe), 30);
  EXPECT_EQ(tpe.objectives.size(), 2u);
  SweepSpec pbt = Spec("  train.lr: {loguniform: [1.0e-4, 1.0e-2]}",
                       "search: pbt\nnum_samples: 6\npbt: {perturbation_interval: 20, "
                       "mutable: [train.lr], quantile_fraction: 0.5}\n");
  EXPECT_EQ(*ParseSweepSpec(SweepSpecToJson(pbt)), pbt);
  EXPECT_EQ(ExpandSweep(pbt)->size(), 6u);
  // The default objective: eval_loss with an eval set, else loss.
  auto job = ExpandSweep(pbt)->front().job;
  EXPECT_EQ(SearchObjectives(pbt, job).front().name, "eval_loss");
  job.data.eval.clear();
  EXPECT_EQ(SearchObjectives(pbt, job).front().name, "loss");
  // MakeTrial takes a value per space key, no more, no fewer.
  EXPECT_TRUE(MakeTrial(tpe, 9, {{"train.lr", 1e-3}}).ok());
  EXPECT_FALSE(MakeTrial(tpe, 9, {{"train.lr", 1e-3}, {"lora.r", 4}}).ok());
  EXPECT_FALSE(MakeTrial(tpe, 9, Json::object()).ok());
}

TEST(SearchSpecTest, ResolvedPathsGiveTheJobsThatResolveJobPathsGives) {
  SweepSpec spec = Spec("  data.train: [a.jsonl, /abs/b.jsonl]\n  train.lr: [1.0e-3]");
  SweepSpec resolved = spec;
  ResolveSweepPaths(&resolved, "/home/u/exp");
  EXPECT_EQ(resolved.base["base_model"], "/home/u/exp/m");
  EXPECT_EQ(resolved.base["data"]["eval"], "/home/u/exp/e.jsonl");
  EXPECT_EQ(resolved.space[0].values[1], "/abs/b.jsonl");
  auto plain = ExpandSweep(spec), made = ExpandSweep(resolved);
  ASSERT_EQ(plain->size(), made->size());
  for (size_t i = 0; i < plain->size(); ++i) {
    JobSpec expect = (*plain)[i].job;
    ResolveJobPaths(&expect, "/home/u/exp");
    EXPECT_EQ(JobSpecToJson((*made)[i].job), JobSpecToJson(expect));
  }
}

}  // namespace
}  // namespace lf::jobs
