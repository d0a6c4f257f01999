// Repeats: trials of one sweep that differ only in their seed (`num_samples` > 1 of a grid, or a
// swept train.seed) are one configuration measured several times. Each configuration's eval
// loss gets its mean, sample standard deviation and 95% confidence interval (Student's t), and
// every configuration is tested against the best one (lowest mean) with Welch's t-test, so a
// comparison says which differences its repeats support and which they do not. Pure functions
// over a Comparison's rows. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json_reader.h"
#include "jobs/compare.h"

namespace lf::jobs {

struct Interval {
  int64_t n = 0;
  double mean = 0;
  double stddev = 0;          // sample standard deviation (n - 1); 0 when n == 1
  std::optional<double> low;  // the 95% interval of the mean; absent when n < 2
  std::optional<double> high;
};

// How a configuration's eval loss stands against the best configuration's.
enum class VersusBest {
  kBest,             // the lowest mean eval loss
  kWorse,            // worse, and the repeats support it (Welch's t-test, 5% two-sided)
  kIndistinct,       // the repeats cannot tell it from the best
  kUnknown,          // fewer than two measured repeats on one side
};
std::string_view VersusBestName(VersusBest v);

struct RepeatGroup {
  std::string sweep_id;
  Json params = Json::object();  // the swept values, train.seed aside
  std::vector<std::string> trial_ids;
  std::optional<Interval> eval_loss;  // over its trials with an adapter and an eval loss
  VersusBest versus_best = VersusBest::kUnknown;
};

// The groups of the comparison's rows, ordered by mean eval loss (unmeasured last). Empty when no
// configuration has two trials: there is nothing to aggregate.
std::vector<RepeatGroup> GroupRepeats(const Comparison& comparison);

// Student's t quantile for a two-sided 95% interval with `df` degrees of freedom (df >= 1; a
// fractional df, as Welch's gives, is rounded down).
double StudentT95(double df);

// {"sweep_id", "params", "trial_ids", "n", "eval_loss": {"mean", "stddev", "low", "high"} | null,
//  "versus_best": "best|worse|indistinct|unknown"}
Json RepeatGroupToJson(const RepeatGroup& group);

}  // namespace lf::jobs
