#include "jobs/repeats.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace lf::jobs {
namespace {

Interval Summarise(const std::vector<double>& values) {
  Interval s{.n = static_cast<int64_t>(values.size())};
  for (double v : values) s.mean += v;
  s.mean /= static_cast<double>(values.size());
  if (values.size() < 2) return s;
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.stddev = std::sqrt(squares / static_cast<double>(values.size() - 1));
  const double half = StudentT95(static_cast<double>(values.size() - 1)) * s.stddev /
                      std::sqrt(static_cast<double>(values.size()));
  s.low = s.mean - half;
  s.high = s.mean + half;
  return s;
}

// Welch's t-test of a against the best b, two-sided at 5%.
VersusBest Versus(const Interval& a, const Interval& b) {
  if (a.n < 2 || b.n < 2) return VersusBest::kUnknown;
  const double va = a.stddev * a.stddev / static_cast<double>(a.n);
  const double vb = b.stddev * b.stddev / static_cast<double>(b.n);
  const double diff = a.mean - b.mean;
  if (va + vb == 0) return diff > 0 ? VersusBest::kWorse : VersusBest::kIndistinct;
  const double t = diff / std::sqrt(va + vb);
  const double df = (va + vb) * (va + vb) /
                    (va * va / static_cast<double>(a.n - 1) + vb * vb / static_cast<double>(b.n - 1));
  return t > StudentT95(std::max(1.0, df)) ? VersusBest::kWorse : VersusBest::kIndistinct;
}

}  // namespace

std::string_view VersusBestName(VersusBest v) {
  switch (v) {
    case VersusBest::kBest:
      return "best";
    case VersusBest::kWorse:
      return "worse";
    case VersusBest::kIndistinct:
      return "indistinct";
    case VersusBest::kUnknown:
      return "unknown";
  }
  return "unknown";
}

double StudentT95(double df) {
  // Two-sided 97.5% quantiles for df 1..30, then a few anchors toward the normal's 1.960.
  static constexpr double kTable[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                      2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                      2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                      2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  const auto d = static_cast<int64_t>(std::floor(std::max(1.0, df)));
  if (d <= 30) return kTable[d - 1];
  if (d <= 40) return 2.021;
  if (d <= 60) return 2.000;
  if (d <= 120) return 1.980;
  return 1.960;
}

std::vector<RepeatGroup> GroupRepeats(const Comparison& comparison) {
  std::map<std::pair<std::string, std::string>, RepeatGroup> groups;  // (sweep, params) -> group
  std::map<std::pair<std::string, std::string>, std::vector<double>> losses;
  std::vector<std::pair<std::string, std::string>> order;
  for (const CompareRow& row : comparison.rows) {
    Json params = row.trial.params;
    if (params.is_object()) params.erase("train.seed");
    const std::pair<std::string, std::string> key{row.trial.sweep_id, params.dump()};
    auto [it, added] = groups.try_emplace(key);
    if (added) {
      it->second.sweep_id = row.trial.sweep_id;
      it->second.params = std::move(params);
      order.push_back(key);
    }
    it->second.trial_ids.push_back(row.trial.trial_id);
    const auto& r = row.trial.result;
    if (HasAdapter(row.trial.state) && r && r->eval_loss && std::isfinite(*r->eval_loss)) {
      losses[key].push_back(*r->eval_loss);
    }
  }
  const bool repeated = std::any_of(groups.begin(), groups.end(),
                                    [](const auto& g) { return g.second.trial_ids.size() > 1; });
  if (!repeated) return {};
  std::vector<RepeatGroup> out;
  for (const auto& key : order) {
    RepeatGroup& g = groups.at(key);
    if (auto l = losses.find(key); l != losses.end()) g.eval_loss = Summarise(l->second);
    out.push_back(std::move(g));
  }
  std::stable_sort(out.begin(), out.end(), [](const RepeatGroup& a, const RepeatGroup& b) {
    if (a.eval_loss.has_value() != b.eval_loss.has_value()) return a.eval_loss.has_value();
    return a.eval_loss && a.eval_loss->mean < b.eval_loss->mean;
  });
  if (!out.empty() && out.front().eval_loss) {
    out.front().versus_best = VersusBest::kBest;
    for (size_t i = 1; i < out.size(); ++i) {
      if (out[i].eval_loss) out[i].versus_best = Versus(*out[i].eval_loss, *out.front().eval_loss);
    }
  }
  return out;
}

Json RepeatGroupToJson(const RepeatGroup& group) {
  Json loss = nullptr;
  if (group.eval_loss) {
    const Interval& s = *group.eval_loss;
    loss = {{"n", s.n},
            {"mean", s.mean},
            {"stddev", s.stddev},
            {"low", OrNull(s.low)},
            {"high", OrNull(s.high)}};
  }
  return {{"sweep_id", group.sweep_id},
          {"params", group.params},
          {"trial_ids", group.trial_ids},
          {"n", group.trial_ids.size()},
          {"eval_loss", std::move(loss)},
          {"versus_best", VersusBestName(group.versus_best)}};
}

}  // namespace lf::jobs
