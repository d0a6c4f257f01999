#include "jobs/asha.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "jobs/random.h"

namespace lf::jobs {
namespace {

std::string ReportedMetricList() {
  std::string list;
  for (const char* m : kReportedMetrics) list += (list.empty() ? "" : ", ") + std::string(m);
  return list;
}

// numpy's default (linear) percentile of values without NaNs, q in [0, 1]. Its lerp works from
// the upper end past the midpoint, as numpy's does, so a cut that lands on a recorded value is
// that value exactly and a tie with it continues.
double LinearQuantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double t = pos - static_cast<double>(lo), a = values[lo], b = values[hi];
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

}  // namespace

Result<AshaConfig> ParseAshaConfig(const JsonField& f) {
  if (!f.IsObject()) {
    return f.Error(
        "expected a mapping such as {type: asha, metric: eval_loss, mode: min, "
        "grace_period: 10, reduction_factor: 3}, got " +
        DescribeJsonValue(f.json()));
  }
  LF_RETURN_IF_ERROR(
      f.CheckKeys({"type", "metric", "mode", "grace_period", "reduction_factor", "max_rungs"}));
  AshaConfig c;
  LF_ASSIGN_OR_RETURN(JsonField type, f.Required("type"));
  LF_ASSIGN_OR_RETURN(std::string type_name, type.String());
  if (type_name != "asha") {
    return type.Error("unknown early stopping rule '" + type_name + "'; the one built is asha");
  }
  LF_ASSIGN_OR_RETURN(JsonField metric, f.Required("metric"));
  LF_ASSIGN_OR_RETURN(c.metric, metric.NonEmptyString());
  if (std::find(std::begin(kReportedMetrics), std::end(kReportedMetrics), c.metric) ==
      std::end(kReportedMetrics)) {
    return metric.Error("'" + c.metric + "' is not a metric trials report; expected one of " +
                        ReportedMetricList());
  }
  LF_ASSIGN_OR_RETURN(JsonField mode, f.Required("mode"));
  LF_ASSIGN_OR_RETURN(c.mode, mode.String());
  if (c.mode != "min" && c.mode != "max") {
    return mode.Error("expected min (lower " + c.metric + " is better) or max, got '" + c.mode +
                      "'");
  }
  LF_ASSIGN_OR_RETURN(JsonField grace, f.Required("grace_period"));
  LF_ASSIGN_OR_RETURN(c.grace_period, grace.Int());
  if (c.grace_period < 1) {
    return grace.Error("expected a positive number of steps before the first rung, got " +
                       DescribeJsonValue(grace.json()));
  }
  LF_ASSIGN_OR_RETURN(JsonField rf, f.Required("reduction_factor"));
  LF_ASSIGN_OR_RETURN(c.reduction_factor, rf.Int());
  if (c.reduction_factor < 2) {
    return rf.Error(
        "expected an integer of at least 2 (the best 1/reduction_factor of each rung "
        "continue), got " +
        DescribeJsonValue(rf.json()));
  }
  if (auto rungs = f.Optional("max_rungs")) {
    LF_ASSIGN_OR_RETURN(c.max_rungs, rungs->PositiveInt());
  }
  return c;
}

Json AshaConfigToJson(const AshaConfig& c) {
  Json j = {{"type", "asha"},
            {"metric", c.metric},
            {"mode", c.mode},
            {"grace_period", c.grace_period},
            {"reduction_factor", c.reduction_factor}};
  if (c.max_rungs > 0) j["max_rungs"] = c.max_rungs;
  return j;
}

Status CheckAshaForJob(const AshaConfig& c, const JobSpec& job, const FieldPath& path,
                       std::string_view job_path) {
  const std::string metric = path.Key("metric").str();
  const std::string at = std::string(job_path) + ".";
  if (c.metric == "eval_loss" && job.data.eval.empty()) {
    return FieldError(metric, "eval_loss needs evaluation data, and " + at +
                                  "data.eval is not set; set it, or use metric: loss");
  }
  if (c.metric == "eval_loss" && job.train.eval_every == 0) {
    return FieldError(
        metric, "eval_loss is reported every train.eval_every steps, and " + at +
        "train.eval_every is 0 (evaluate only at the end, after the last rung); set "
        "train.eval_every (e.g. " +
        std::to_string(c.grace_period) +
        ", the grace period) so trials report it at their rungs, or use metric: loss");
  }
  if (AshaRungSteps(c, job.train.steps).empty()) {
    return FieldError(path.Key("grace_period").str(),
                      std::to_string(c.grace_period) + " is not below " + at + "train.steps (" +
                          std::to_string(job.train.steps) +
                          "), so no trial reaches a rung; lower grace_period");
  }
  return Status::Ok();
}

std::vector<int64_t> AshaRungSteps(const AshaConfig& c, int64_t train_steps) {
  std::vector<int64_t> steps;
  for (int64_t s = c.grace_period; s < train_steps; s *= c.reduction_factor) {
    if (c.max_rungs > 0 && static_cast<int64_t>(steps.size()) >= c.max_rungs) break;
    steps.push_back(s);
    if (s > std::numeric_limits<int64_t>::max() / c.reduction_factor) break;
  }
  return steps;
}

AshaState::AshaState(AshaConfig config, int64_t train_steps)
    : config_(std::move(config)),
      rung_steps_(AshaRungSteps(config_, train_steps)),
      rungs_(rung_steps_.size()) {}

AshaDecision AshaState::Place(const std::string& trial_id, int64_t step, double value) {
  AshaDecision d;
  // The highest rung at or below the step: a report past several rungs counts for the last.
  auto above = std::upper_bound(rung_steps_.begin(), rung_steps_.end(), step);
  if (above == rung_steps_.begin()) return d;
  const auto rung = static_cast<size_t>(above - rung_steps_.begin()) - 1;
  if (!rungs_[rung].emplace(trial_id, value).second) return d;  // decided at its first report
  d.rung = rung;
  d.rung_step = rung_steps_[rung];
  d.step = step;
  d.value = value;
  d.recorded = rungs_[rung].size();
  const bool max = config_.mode == "max";
  std::vector<double> rewards;
  for (const auto& [id, v] : rungs_[rung]) {
    if (!std::isnan(v)) rewards.push_back(max ? v : -v);
  }
  if (rewards.empty()) {
    d.kind = AshaDecision::kStop;  // only NaN here: this trial's
    return d;
  }
  // Ray: np.nanpercentile(rewards, (1 - 1 / rf) * 100); a reward below the cut stops.
  const double q = 1.0 - 1.0 / static_cast<double>(config_.reduction_factor);
  const double cut = LinearQuantile(std::move(rewards), q);
  d.cut = max ? cut : -cut;
  const double reward = max ? value : -value;
  d.kind = std::isnan(value) || reward < cut ? AshaDecision::kStop : AshaDecision::kContinue;
  return d;
}

AshaDecision AshaState::Record(const std::string& trial_id, int64_t step, double value) {
  return Place(trial_id, step, value);
}

void AshaState::Restore(const std::string& trial_id, std::span<const Point> points) {
  for (const Point& p : points) Place(trial_id, p.step, p.value);
}

std::string AshaState::StopReason(const AshaDecision& d) const {
  const std::string rung =
      "rung " + std::to_string(d.rung) +
      (d.step == d.rung_step ? "" : " (step " + std::to_string(d.rung_step) + ")");
  const std::string at = " at step " + std::to_string(d.step);
  if (std::isnan(d.value)) {
    return "early stopping (asha): " + config_.metric + " is NaN" + at + ", " + rung;
  }
  return "early stopping (asha): " + config_.metric + " " + Number(d.value) + at +
         " is worse than " + rung + "'s cut " + Number(d.cut) + " (best 1/" +
         std::to_string(config_.reduction_factor) + " of " + std::to_string(d.recorded) +
         " continue; mode " + config_.mode + ")";
}

size_t HyperbandBrackets(const AshaConfig& config, int64_t train_steps) {
  return AshaRungSteps(config, train_steps).size() + 1;
}

size_t HyperbandBracket(const AshaConfig& config, int64_t train_steps, uint64_t seed,
                        uint32_t index) {
  const size_t n = HyperbandBrackets(config, train_steps);
  std::vector<uint64_t> budget;
  uint64_t total = 0;
  for (size_t b = 0; b < n; ++b) {
    const size_t s = n - 1 - b;
    double rf_s = 1;
    for (size_t i = 0; i < s; ++i) rf_s *= static_cast<double>(config.reduction_factor);
    const double weight = std::ceil(static_cast<double>(n) * rf_s / static_cast<double>(s + 1));
    budget.push_back(static_cast<uint64_t>(std::min(weight, 0x1p40)));
    total += budget.back();
  }
  uint64_t draw = TrialRng(seed, index, /*salt=*/0xB0B).Next() % total;
  for (size_t b = 0; b < n; ++b) {
    if (draw < budget[b]) return b;
    draw -= budget[b];
  }
  return n - 1;
}

std::optional<AshaConfig> HyperbandBracketConfig(const AshaConfig& config, int64_t train_steps,
                                                 size_t bracket) {
  const std::vector<int64_t> rungs = AshaRungSteps(config, train_steps);
  if (bracket >= rungs.size()) return std::nullopt;
  AshaConfig c = config;
  c.grace_period = rungs[bracket];
  c.max_rungs = static_cast<int64_t>(rungs.size() - bracket);
  return c;
}

}  // namespace lf::jobs
