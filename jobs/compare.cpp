#include "jobs/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "jobs/serving.h"

namespace lf::jobs {
namespace {

constexpr double kMissing = std::numeric_limits<double>::infinity();

double EvalLoss(const CompareRow& row) {
  const auto& r = row.trial.result;
  return r && r->eval_loss ? *r->eval_loss : kMissing;
}

double AdapterBytes(const CompareRow& row) {
  const auto& r = row.trial.result;
  return r && r->adapter_bytes > 0 ? static_cast<double>(r->adapter_bytes) : kMissing;
}

// The row's objective values, lower better, or nullopt when one is missing (no adapter, no eval
// set, no size).
std::optional<std::vector<double>> Point(const CompareRow& row,
                                         const std::vector<Objective>& objectives) {
  if (!HasAdapter(row.trial.state) || !row.trial.result) return std::nullopt;
  std::vector<double> p;
  for (const Objective& o : objectives) {
    std::optional<double> v = ObjectiveValue(o, *row.trial.result);
    if (o.name == "adapter_bytes" && v && *v <= 0) v.reset();
    if (!v || !std::isfinite(*v)) return std::nullopt;
    p.push_back(o.mode == "max" ? -*v : *v);
  }
  return p;
}

// The Pareto front among the trials with an adapter: those that no other one matches or beats on
// every objective while beating on one of them.
void MarkParetoFront(std::vector<CompareRow>& rows, const std::vector<Objective>& objectives) {
  std::vector<std::optional<std::vector<double>>> points;
  for (const CompareRow& row : rows) points.push_back(Point(row, objectives));
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].pareto_front =
        points[i] && std::none_of(points.begin(), points.end(), [&](const auto& o) {
          if (!o) return false;
          bool better = false;
          for (size_t k = 0; k < o->size(); ++k) {
            if ((*o)[k] > (*points[i])[k]) return false;
            better = better || (*o)[k] < (*points[i])[k];
          }
          return better;
        });
  }
}

// Cost against the full fine-tuning baseline when the trials include one that finished (the
// cheapest, if several): each trial's device-seconds as a fraction of the baseline's.
void PriceAgainstFull(std::vector<CompareRow>& rows) {
  std::optional<double> full;
  for (const CompareRow& row : rows) {
    if (row.trial.job.method != Method::kFull || !row.trial.result) continue;
    const double d = row.trial.result->device_s();
    if (d > 0) full = full ? std::min(*full, d) : d;
  }
  if (!full) return;
  for (CompareRow& row : rows) {
    if (row.trial.result) row.device_s_vs_full = row.trial.result->device_s() / *full;
  }
}

int Group(TrialState s) {
  return s == TrialState::kCompleted ? 0 : s == TrialState::kStopped ? 1 : 2;
}

CompareRow RowOf(TrialSummary trial) {
  CompareRow row;
  if (trial.result && trial.result->base_params > 0) {
    row.trainable_pct = 100.0 * static_cast<double>(trial.result->trainable_params) /
                        static_cast<double>(trial.result->base_params);
  }
  row.serving_warnings = ServingWarnings(AdapterShapeOfJob(trial.job));
  row.trial = std::move(trial);
  return row;
}

}  // namespace

Result<Comparison> Compare(std::vector<TrialSummary> trials, std::vector<Objective> objectives) {
  Comparison out;
  out.objectives = objectives.empty() ? DefaultFrontObjectives() : std::move(objectives);
  std::string base_trial;
  for (TrialSummary& t : trials) {
    if (base_trial.empty()) {
      out.base_model = t.job.base_model;
      base_trial = t.trial_id;
    } else if (t.job.base_model != out.base_model) {
      return InvalidArgument("trial " + t.trial_id + " trains " + t.job.base_model +
                             " but trial " + base_trial + " trains " + out.base_model +
                             "; compare sweeps that share a base model");
    }
    if (!HasAdapter(t.state)) t.result.reset();
    out.rows.push_back(RowOf(std::move(t)));
  }
  MarkParetoFront(out.rows, out.objectives);
  PriceAgainstFull(out.rows);
  std::stable_sort(out.rows.begin(), out.rows.end(), [](const CompareRow& a, const CompareRow& b) {
    const int ga = Group(a.trial.state), gb = Group(b.trial.state);
    if (ga != gb) return ga < gb;
    return ga < 2 && EvalLoss(a) < EvalLoss(b);
  });
  return out;
}

std::vector<Objective> DefaultFrontObjectives() {
  return {{.name = "eval_loss", .mode = "min"}, {.name = "adapter_bytes", .mode = "min"}};
}

const std::vector<CompareColumn>& CompareColumns() {
  static const std::vector<CompareColumn> kColumns = {
      {"trial_id", "trial", "text"},
      {"state", "state", "text"},
      {"method", "method", "text"},
      {"r", "r", "number"},
      {"alpha", "alpha", "number"},
      {"lr", "lr", "number"},
      {"eval_loss", "eval loss", "fixed4"},
      {"perplexity", "ppl", "fixed2"},
      {"initial_eval_loss", "initial eval loss", "fixed4", false},
      {"train_loss", "train loss", "fixed4", false},
      {"general_eval_loss_base", "general loss (base)", "fixed4", false, true},
      {"general_eval_loss", "general loss", "fixed4", false, true},
      {"forgetting", "forgetting", "signed4", true, true},
      {"trainable_params", "trainable", "int"},
      {"trainable_pct", "trainable %", "percent"},
      {"adapter_bytes", "adapter", "bytes"},
      {"peak_memory_bytes", "peak memory", "bytes", false},
      {"tokens_per_s", "tok/s", "int"},
      {"wall_s", "wall", "duration"},
      {"device_s", "device-s", "number", false},
      {"device_s_vs_full", "cost vs full", "ratio", true, true},
      {"steps", "steps", "int", false},
      {"pareto_front", "front", "check", false},
  };
  return kColumns;
}

Json CompareRowToJson(const CompareRow& row) {
  const TrialSummary& t = row.trial;
  const LoraSpec* lora = LoraSettings(t.job);
  Json j = {{"trial_id", t.trial_id},
            {"sweep_id", t.sweep_id},
            {"state", TrialStateName(t.state)},
            {"has_adapter", HasAdapter(t.state)},
            {"method", MethodName(t.job.method)},
            {"r", lora ? Json(lora->r) : Json(nullptr)},
            {"alpha", lora ? Json(lora->alpha) : Json(nullptr)},
            {"lr", t.job.train.lr},
            {"params", t.params},
            {"trainable_pct", OrNull(row.trainable_pct)},
            {"device_s_vs_full", OrNull(row.device_s_vs_full)},
            {"pareto_front", row.pareto_front},
            {"serving_warnings", row.serving_warnings}};
  const char* kResultKeys[] = {"trainable_params", "adapter_bytes", "eval_loss", "perplexity",
                               "initial_eval_loss", "train_loss", "tokens_per_s", "wall_s",
                               "peak_memory_bytes", "steps", "resumed_from_step", "base_params",
                               "device_s",
                               "general_eval_loss_base", "general_eval_loss", "forgetting"};
  for (const char* key : kResultKeys) j[key] = nullptr;
  if (const auto& r = t.result) {
    j["trainable_params"] = r->trainable_params;
    j["adapter_bytes"] = r->adapter_bytes;
    j["eval_loss"] = OrNull(r->eval_loss);
    j["perplexity"] = OrNull(r->eval_perplexity);
    j["initial_eval_loss"] = OrNull(r->initial_eval_loss);
    j["train_loss"] = r->final_train_loss;
    j["tokens_per_s"] = r->tokens_per_s;
    j["wall_s"] = r->wall_s;
    j["peak_memory_bytes"] = r->peak_memory_bytes;
    j["steps"] = r->steps;
    j["resumed_from_step"] = r->resumed_from_step;
    j["base_params"] = r->base_params;
    j["device_s"] = r->device_s();
    j["general_eval_loss_base"] = OrNull(r->general_eval_loss_base);
    j["general_eval_loss"] = OrNull(r->general_eval_loss);
    j["forgetting"] = OrNull(r->forgetting());
  }
  return j;
}

Json CompareColumnsToJson() {
  Json out = Json::array();
  for (const CompareColumn& c : CompareColumns()) {
    out.push_back({{"key", c.key},
                   {"label", c.label},
                   {"format", c.format},
                   {"terminal", c.terminal},
                   {"when_present", c.when_present}});
  }
  return out;
}

}  // namespace lf::jobs
