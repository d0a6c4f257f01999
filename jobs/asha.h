// ASHA, asynchronous successive halving (Li et al. 2020, "A System for Massively Parallel
// Hyperparameter Tuning"; the rule of Ray Tune's ASHAScheduler): the early-stopping rule a sweep
// names in its `early_stopping` block. Pure: the coordinator feeds it the metric its trials
// report and acts on the decisions. AshaConfig is a value; an AshaState is owned by one caller
// and not thread-safe.
//
// Rungs sit at steps grace_period * reduction_factor^k (k = 0, 1, ...) below train.steps, at most
// max_rungs of them: grace 10, rf 3, 200 steps -> rungs 0, 1, 2 at steps 10, 30, 90. A trial's
// value at a rung is its first report of the metric at a step >= the rung's step and before the
// next rung's (a report that skips a rung counts for the highest rung it reached). Reports
// between rungs, and a second report at a rung (a resumed trial replaying steps), decide nothing.
//
// The cut: when a trial reaches a rung its value is recorded there, and it continues if it is
// among the best 1/rf of ALL the values recorded at that rung so far, itself included. As in Ray,
// values become rewards (mode max: the value; min: minus it), the cut is the (1 - 1/rf) quantile
// of the recorded rewards interpolated linearly (numpy's nanpercentile: NaNs left out), and a
// trial whose reward is below the cut (strictly: ties continue) stops. The first trial at a rung
// is its own cut, so it continues. Unlike Ray, a NaN value stops the trial (NaN compares false in
// Ray, which lets it run on). Decisions depend on the order trials arrive: late, worse trials stop.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"
#include "jobs/job_spec.h"

namespace lf::jobs {

// The per-step metrics a worker reports (worker/agent/trial_runner.cpp): what `metric` may name.
inline constexpr const char* kReportedMetrics[] = {"loss", "eval_loss", "grad_norm", "lr",
                                                   "tokens_per_s"};

// The sweep document's block: early_stopping: {type: asha, metric: eval_loss, mode: min,
// grace_period: 100, reduction_factor: 3, max_rungs: 4}.
struct AshaConfig {
  std::string metric;            // required; one of kReportedMetrics
  std::string mode = "min";      // min: lower is better; max: higher is better
  int64_t grace_period = 1;      // steps before the first rung; >= 1 (required in the document)
  int64_t reduction_factor = 3;  // >= 2: the best 1/rf of each rung continue
  int64_t max_rungs = 0;         // 0: as many as fit below train.steps

  friend bool operator==(const AshaConfig&, const AshaConfig&) = default;
};

// `f` is the block ("sweep.early_stopping"); errors name the field within it.
Result<AshaConfig> ParseAshaConfig(const JsonField& f);
Json AshaConfigToJson(const AshaConfig& config);  // every default written out, max_rungs if set
// Whether a trial's job reports the metric before its end and has at least one rung: eval_loss
// needs data.eval and train.eval_every > 0. `path` names the block, `job_path` the job in errors
// ("sweep.base").
Status CheckAshaForJob(const AshaConfig& config, const JobSpec& job, const FieldPath& path,
                       std::string_view job_path);

// The rung steps for a trial of train_steps steps, ascending.
std::vector<int64_t> AshaRungSteps(const AshaConfig& config, int64_t train_steps);

// BOHB's Hyperband brackets (Falkner et al. 2018) on these rungs, spread as Optuna's
// HyperbandPruner spreads trials: with R rungs there are R + 1 brackets; bracket b judges its
// trials first at rung b (so bracket 0 is ASHA itself and bracket R never stops a trial), among
// the trials of its own bracket only. Trial `index` falls in bracket b with weight
// ceil((R + 1) * rf^s / (s + 1)), s = R - b (more trials where more are stopped), by a hash of
// the seed and the index.
size_t HyperbandBrackets(const AshaConfig& config, int64_t train_steps);
size_t HyperbandBracket(const AshaConfig& config, int64_t train_steps, uint64_t seed,
                        uint32_t index);
// Bracket b's rule: the config whose rungs are rungs b, b + 1, ...; nullopt for the last bracket.
std::optional<AshaConfig> HyperbandBracketConfig(const AshaConfig& config, int64_t train_steps,
                                                 size_t bracket);

struct AshaDecision {
  enum Kind { kNotARung, kContinue, kStop };
  Kind kind = kNotARung;
  // The rest for kContinue and kStop only: the rung (0-based) and its step, the report's step
  // and value, the cut in the metric's units (NaN when only NaNs are recorded) and how many
  // values the rung holds, this one included.
  size_t rung = 0;
  int64_t rung_step = 0;
  int64_t step = 0;
  double value = 0;
  double cut = std::numeric_limits<double>::quiet_NaN();
  size_t recorded = 0;
};

class AshaState {
 public:
  // `train_steps`: the longest trial's steps (rungs lie below it).
  AshaState(AshaConfig config, int64_t train_steps);

  // A report of the metric by a running trial.
  AshaDecision Record(const std::string& trial_id, int64_t step, double value);
  // Rebuilds the rung records after a restart from a trial's stored reports of the metric, in
  // step order; decisions are not re-taken (the trials that stopped are stopped already), so the
  // order in which trials are restored does not matter.
  struct Point {
    int64_t step = 0;
    double value = 0;
  };
  void Restore(const std::string& trial_id, std::span<const Point> points);

  // "early stopping (asha): eval_loss 2.31 at step 30 is worse than rung 1's cut 2.05 (the best
  // 1/3 of 5 values at step 30 continue)": why a kStop decision stops.
  std::string StopReason(const AshaDecision& decision) const;

  const AshaConfig& config() const { return config_; }
  const std::vector<int64_t>& rung_steps() const { return rung_steps_; }
  // The values recorded at a rung, by trial id.
  const std::map<std::string, double>& recorded(size_t rung) const { return rungs_.at(rung); }

 private:
  AshaDecision Place(const std::string& trial_id, int64_t step, double value);

  AshaConfig config_;
  std::vector<int64_t> rung_steps_;
  std::vector<std::map<std::string, double>> rungs_;  // per rung: trial id -> value
};

}  // namespace lf::jobs
