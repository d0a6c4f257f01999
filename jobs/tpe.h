// The Tree-structured Parzen Estimator (Bergstra et al. 2011; Watanabe 2023, "Tree-Structured
// Parzen Estimator: Understanding Its Algorithm Components"), as Optuna's TPESampler implements
// it: what search: tpe and bohb use to suggest a sweep's next trial from the trials so far. Pure
// and deterministic: the same sweep, index and history give the same suggestion on every run,
// which is how a restarted coordinator carries on (its history is the store's trials).
//
// The rule. Trials before tpe.n_startup_trials, or with no finished trial yet, are random search's
// (RandomParams). Otherwise the history is ordered best first: complete trials by their objective
// (several objectives: by non-dominated front, the front that does not fit whole cut by crowding
// distance, as NSGA-II does), then pruned (early-stopped) trials by the step they reached (later
// first) and their value, then, with constant_liar, the unfinished trials (so that trials asked
// for at the same time differ). The best gamma(n) = min(ceil(n / 10), 25) form the "good" density
// l(x), the rest the "bad" g(x): Gaussian kernels on each continuous axis (log space for
// loguniform; integers on [low - 0.5, high + 0.5] and scored by the mass of their unit bin), a
// kernel on each categorical axis (a grid list is categorical here) putting 1 + 1/k on the
// observed choice and 1/k on the others, and a prior component (the middle of the range with the
// whole range as its width; uniform choices). Kernel weights are Optuna's: 1 for the 25 newest
// trials, a linear ramp down for older ones, and 1 for the prior. tpe.n_ei_candidates points are
// drawn from l(x) and the one with the largest log l(x) - log g(x) is suggested. By default (as
// Optuna's TPESampler) each axis is drawn and chosen on its own, a kernel's bandwidth being its
// larger distance to its neighbouring observations (the range's ends count); with multivariate:
// true one joint density covers every axis, with Optuna's multivariate bandwidth 0.2 *
// n^(-1/(d+4)) * (high - low). Both are clipped to [range / min(100, n + 2), range].
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/json_reader.h"
#include "jobs/search_options.h"
#include "jobs/sweep_spec.h"

namespace lf::jobs {

// One trial of the sweep as the sampler sees it.
struct TpeObservation {
  enum class Outcome { kComplete, kPruned, kRunning };
  uint32_t index = 0;  // trial index: newer trials weigh more
  Json params;         // the trial's values of the space keys
  Outcome outcome = Outcome::kRunning;
  std::vector<double> values;  // complete and pruned: one per objective (NaN: none)
  int64_t step = 0;            // pruned: the step it was stopped at
};

// The number of good trials among n.
int64_t TpeGamma(int64_t n);

// The values for trial `index` of `spec` (search: tpe or bohb) given the history (any order;
// the trial itself is not in it). `objectives` gives the values' meaning (SearchObjectives).
Json SuggestTpe(const SweepSpec& spec, const std::vector<Objective>& objectives,
                std::span<const TpeObservation> history, uint32_t index);

}  // namespace lf::jobs
