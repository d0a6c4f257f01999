// Adaptive search in the coordinator: tpe suggesting trials as workers free up, until num_samples,
// the same suggestions after a restart; bohb's brackets; pbt's exploit by checkpoint copy.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "coordinator_fixture.h"
#include "jobs/asha.h"

namespace lf::coordinator {
namespace {

using jobs::TrialState;
using testing::CoordinatorTest;
using testing::DoneWith;
using testing::SweepYaml;

const std::string kTpe = SweepYaml("train.lr: {loguniform: [1.0e-4, 1.0e-2]}",
                                   "search: tpe\nnum_samples: 6\ntpe: {n_startup_trials: 2}\n");

// A trial's loss as a function of its learning rate: best at 1e-3.
double LossOf(const protocol::Assign& a) {
  return 1.0 + std::pow(std::log10(a.job.train.lr) + 3.0, 2);
}

class SearchTest : public CoordinatorTest {
 protected:
  // Runs a sweep on one worker to its end, restarting the coordinator after `restart_after`
  // trials; returns each trial's learning rate by index.
  std::vector<double> RunOnOneWorker(const std::string& yaml, int restart_after = -1) {
    const std::string sweep = Submit(yaml);
    std::vector<double> lrs;
    auto a = Join("w1");
    for (int done = 0; !a.trial_id.empty(); ++done) {
      Send("w1", DoneWith(a, {.final_train_loss = LossOf(a), .trainable_params = 10}));
      auto next = sink_.Take<protocol::Assign>("w1");
      a = next.empty() ? protocol::Assign{} : next.back();
      if (done + 1 == restart_after) {  // the worker still holds its trial: it says so
        Restart();
        Send("w1", Hello("w1", {{.trial_id = a.trial_id, .attempt = a.attempt, .step = 0}}));
        EXPECT_TRUE(sink_.Take<protocol::Assign>("w1").empty());
      }
    }
    EXPECT_EQ(store_->GetSweep(sweep)->state, jobs::SweepState::kFinished);
    auto trials = store_->ListTrials({.sweep_id = sweep});
    for (const auto& t : *trials) {
      EXPECT_EQ(t.state, TrialState::kCompleted) << t.id;
      lrs.push_back(ParseTrialConfig(t)->job.train.lr);
    }
    return lrs;
  }
};

TEST_F(SearchTest, TpeSuggestsTrialsAsWorkersFreeUpUntilNumSamples) {
  auto submitted = coordinator_->Submit({.spec = kTpe, .base_dir = testing::kRepo});
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  const std::string sweep = (*submitted)["sweep"]["id"];
  EXPECT_EQ((*submitted)["sweep"]["trial_count"], 2);  // the random startup trials
  EXPECT_EQ((*submitted)["sweep"]["planned_trials"], 6);

  auto a = Join("w1");
  // One trial waits queued; no suggestion is made while it does.
  EXPECT_EQ(store_->GetSweep(sweep)->trial_count, 2u);
  Send("w1", DoneWith(a, {.final_train_loss = LossOf(a)}));
  auto b = sink_.Take<protocol::Assign>("w1");
  ASSERT_EQ(b.size(), 1u);
  // Trial 1 went to the worker: trial 2 is suggested to wait in its place.
  auto sweep_record = store_->GetSweep(sweep);
  EXPECT_EQ(sweep_record->trial_count, 3u);
  auto third = store_->GetTrial(MakeTrialId(sweep, 2));
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->state, TrialState::kQueued);
  TrialConfig config = *ParseTrialConfig(*third);
  EXPECT_EQ(config.origin["suggested_by"], "tpe");
  EXPECT_GE(config.job.train.lr, 1e-4);
  EXPECT_LE(config.job.train.lr, 1e-2);
  EXPECT_EQ(config.job.output, dir_ + "/runs/" + sweep + "/" + third->id);
  auto events = store_->ReadEvents({});
  EXPECT_TRUE(std::any_of(events->begin(), events->end(), [&](const auto& e) {
    return e.kind == "sweep.trials_added" && e.detail == third->id;
  }));
  // Not finished while trials remain to suggest, even with none running for a moment.
  EXPECT_EQ(store_->GetSweep(sweep)->state, jobs::SweepState::kActive);
}

TEST_F(SearchTest, TheSameResultsGiveTheSameSuggestionsAcrossARestart) {
  const std::vector<double> straight = RunOnOneWorker(kTpe);
  ASSERT_EQ(straight.size(), 6u);
  const std::vector<double> restarted = RunOnOneWorker(kTpe, /*restart_after=*/3);
  EXPECT_EQ(restarted, straight);
  // The startup trials are random search's, the later ones TPE's: closer to the best lr.
  const auto distance = [](double lr) { return std::abs(std::log10(lr) + 3.0); };
  EXPECT_LT(std::min({distance(straight[2]), distance(straight[3]), distance(straight[4]),
                      distance(straight[5])}),
            std::max(distance(straight[0]), distance(straight[1])));
}

TEST_F(SearchTest, BohbJudgesEachTrialInItsOwnBracketOnly) {
  const std::string yaml =
      "name: b\nbase:\n  base_model: examples/models/tiny-gpt2\n"
      "  data: {train: examples/data/medical/train.jsonl, eval: examples/data/medical/eval.jsonl}\n"
      "  train: {steps: 60, eval_every: 10}\nspace:\n"
      "  train.lr: {loguniform: [1.0e-4, 1.0e-2]}\nsearch: bohb\nnum_samples: 12\n"
      "tpe: {n_startup_trials: 8}\n"
      "early_stopping: {type: asha, metric: eval_loss, mode: min, grace_period: 10, "
      "reduction_factor: 2}\n";
  const std::string sweep = Submit(yaml);
  const jobs::AshaConfig asha{.metric = "eval_loss", .grace_period = 10, .reduction_factor = 2};
  ASSERT_EQ(jobs::HyperbandBrackets(asha, 60), 4u);  // rungs at 10, 20, 40, and no rung
  bool first_in_bracket0 = true;
  std::set<size_t> brackets;
  for (int i = 0; i < 8; ++i) {
    const std::string w = "w" + std::to_string(i);
    auto a = Join(w);
    const size_t bracket = jobs::HyperbandBracket(asha, 60, 0, static_cast<uint32_t>(i));
    brackets.insert(bracket);
    // Each trial reports a worse eval loss at step 10 (rung 0) than the one before.
    Send(w, protocol::Progress{.trial_id = a.trial_id,
                               .attempt = a.attempt,
                               .metrics = {{10, "eval_loss", 1.0 + i, 0}}});
    const bool stopped = !sink_.Take<protocol::Stop>(w).empty();
    EXPECT_EQ(stopped, bracket == 0 && !first_in_bracket0) << a.trial_id << " bracket " << bracket;
    if (bracket == 0) first_in_bracket0 = false;
  }
  EXPECT_GE(brackets.size(), 2u);  // the test saw more than ASHA alone
}

TEST_F(SearchTest, PbtReplacesABottomTrialWithACopyOfATopTrialsCheckpoint) {
  const std::string yaml =
      "name: p\nbase:\n  base_model: examples/models/tiny-gpt2\n"
      "  data: {train: examples/data/medical/train.jsonl}\n"
      "  train: {steps: 60, checkpoint_every: 20}\nspace:\n"
      "  train.lr: {loguniform: [1.0e-4, 1.0e-2]}\n  lora.r: [8]\n"
      "search: pbt\nnum_samples: 2\npbt: {perturbation_interval: 20, mutable: [train.lr], "
      "resample_probability: 0}\n";
  const std::string sweep = Submit(yaml);
  auto good = Join("w1");
  auto bad = Join("w2");
  // The good trial checkpointed at step 20: a real folder, which the exploit copies.
  const std::string folder = dir_ + "/ck/" + good.trial_id + "/checkpoint-20";
  std::filesystem::create_directories(folder);
  std::ofstream(folder + "/state.json") << R"({"step": 20})";
  Send("w1",
       protocol::Checkpoint{.trial_id = good.trial_id, .attempt = 1, .step = 20, .path = folder});
  Send("w1", protocol::Progress{
                 .trial_id = good.trial_id, .attempt = 1, .metrics = {{20, "loss", 1.0, 0}}});
  EXPECT_TRUE(sink_.Take<protocol::Stop>("w1").empty());
  EXPECT_EQ(store_->GetSweep(sweep)->trial_count, 2u);
  Send("w2", protocol::Progress{
                 .trial_id = bad.trial_id, .attempt = 1, .metrics = {{20, "loss", 3.0, 0}}});
  // The bad one is told to finish, and a third trial takes its place from the good one's state.
  auto stops = sink_.Take<protocol::Stop>("w2");
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_TRUE(stops[0].finish);
  EXPECT_NE(stops[0].reason.find("replaced by " + MakeTrialId(sweep, 2)), std::string::npos)
      << stops[0].reason;
  auto third = store_->GetTrial(MakeTrialId(sweep, 2));
  ASSERT_TRUE(third.ok());
  TrialConfig config = *ParseTrialConfig(*third);
  EXPECT_EQ(config.origin["exploit"]["source"], good.trial_id);
  EXPECT_EQ(config.origin["exploit"]["replaces"], bad.trial_id);
  EXPECT_EQ(config.origin["exploit"]["source_step"], 20);
  const double ratio = config.job.train.lr / good.job.train.lr;
  EXPECT_TRUE(std::abs(ratio - 0.8) < 1e-9 || std::abs(ratio - 1.2) < 1e-9 ||
              config.job.train.lr == 1e-4 || config.job.train.lr == 1e-2)
      << ratio;
  EXPECT_TRUE(std::filesystem::exists(config.job.output + "/checkpoints/checkpoint-20/state.json"));
  auto events = store_->ReadEvents({.trial_id = bad.trial_id});
  EXPECT_EQ(events->back().kind, "trial.replaced");
  // After a restart the replaced trial is still told to finish when it reports again.
  Restart();
  Send("w2", Hello("w2", {{.trial_id = bad.trial_id, .attempt = 1, .step = 21}}));
  Send("w2", protocol::Progress{
                 .trial_id = bad.trial_id, .attempt = 1, .metrics = {{21, "loss", 3.0, 0}}});
  auto again = sink_.Take<protocol::Stop>("w2");
  ASSERT_FALSE(again.empty());
  EXPECT_TRUE(again.back().finish);
}

}  // namespace
}  // namespace lf::coordinator
