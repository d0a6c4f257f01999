#include "jobs/search_options.h"

#include <algorithm>

namespace lf::jobs {
namespace {

std::string ObjectiveList() {
  std::string list;
  for (const char* n : kObjectiveNames) list += (list.empty() ? "" : ", ") + std::string(n);
  return list;
}

}  // namespace

Result<std::vector<Objective>> ParseObjectives(const JsonField& f) {
  if (!f.IsObject()) {
    return f.Error(
        "expected a mapping of objective to min or max, such as {eval_loss: min, "
        "trainable_params: min}, got " +
        DescribeJsonValue(f.json()));
  }
  LF_ASSIGN_OR_RETURN(auto members, f.Members());
  if (members.empty()) return f.Error("empty; name at least one objective, or remove the block");
  std::vector<Objective> out;
  for (const auto& [name, mode] : members) {
    if (std::find(std::begin(kObjectiveNames), std::end(kObjectiveNames), name) ==
        std::end(kObjectiveNames)) {
      return mode.Error("'" + name + "' is not an objective; expected one of " + ObjectiveList());
    }
    LF_ASSIGN_OR_RETURN(std::string m, mode.String());
    if (m != "min" && m != "max") return mode.Error("expected min or max, got '" + m + "'");
    out.push_back({.name = name, .mode = m});
  }
  return out;
}

Json ObjectivesToJson(const std::vector<Objective>& objectives) {
  Json out = Json::object();
  for (const Objective& o : objectives) out[o.name] = o.mode;
  return out;
}

Result<TpeOptions> ParseTpeOptions(const JsonField& f) {
  if (!f.IsObject()) return f.Error("expected a mapping, got " + DescribeJsonValue(f.json()));
  LF_RETURN_IF_ERROR(
      f.CheckKeys({"n_startup_trials", "n_ei_candidates", "multivariate", "constant_liar"}));
  TpeOptions o;
  LF_ASSIGN_OR_RETURN(o.n_startup_trials,
                      f.IntOr("n_startup_trials", o.n_startup_trials, {.min = 0, .max = 100000}));
  LF_ASSIGN_OR_RETURN(o.n_ei_candidates,
                      f.IntOr("n_ei_candidates", o.n_ei_candidates, {.min = 1, .max = 10000}));
  LF_ASSIGN_OR_RETURN(o.multivariate, f.BoolOr("multivariate", o.multivariate));
  LF_ASSIGN_OR_RETURN(o.constant_liar, f.BoolOr("constant_liar", o.constant_liar));
  return o;
}

Json TpeOptionsToJson(const TpeOptions& o) {
  return {{"n_startup_trials", o.n_startup_trials},
          {"n_ei_candidates", o.n_ei_candidates},
          {"multivariate", o.multivariate},
          {"constant_liar", o.constant_liar}};
}

Result<PbtOptions> ParsePbtOptions(const JsonField& f) {
  if (!f.IsObject()) {
    return f.Error(
        "expected a mapping such as {perturbation_interval: 20, mutable: [train.lr]}, "
        "got " +
        DescribeJsonValue(f.json()));
  }
  LF_RETURN_IF_ERROR(f.CheckKeys(
      {"perturbation_interval", "quantile_fraction", "resample_probability", "mutable"}));
  PbtOptions o;
  LF_ASSIGN_OR_RETURN(JsonField interval, f.Required("perturbation_interval"));
  LF_ASSIGN_OR_RETURN(o.perturbation_interval, interval.Int({.min = 1}));
  LF_ASSIGN_OR_RETURN(o.quantile_fraction,
                      f.NumberOr("quantile_fraction", o.quantile_fraction,
                                 {.min = 0, .max = 0.5, .exclusive_min = true}));
  LF_ASSIGN_OR_RETURN(
      o.resample_probability,
      f.NumberOr("resample_probability", o.resample_probability, {.min = 0, .max = 1}));
  LF_ASSIGN_OR_RETURN(JsonField keys, f.Required("mutable"));
  LF_ASSIGN_OR_RETURN(o.mutable_keys, keys.StringList());
  if (o.mutable_keys.empty()) {
    return keys.Error("empty; name the space keys that explore may change, e.g. [train.lr]");
  }
  return o;
}

Json PbtOptionsToJson(const PbtOptions& o) {
  return {{"perturbation_interval", o.perturbation_interval},
          {"quantile_fraction", o.quantile_fraction},
          {"resample_probability", o.resample_probability},
          {"mutable", o.mutable_keys}};
}

Status CheckObjectiveForJob(const Objective& objective, const JobSpec& job, std::string_view path) {
  const bool needs_eval = objective.name == "eval_loss" || objective.name == "eval_perplexity";
  if (needs_eval && job.data.eval.empty()) {
    return FieldError(path, objective.name +
                                " needs an eval set: give the base job data.eval, or optimise "
                                "loss instead");
  }
  if (objective.name == "forgetting" && job.data.general_eval.empty()) {
    return FieldError(path, "forgetting needs data.general_eval in the base job");
  }
  return Status::Ok();
}

std::optional<double> ObjectiveValue(const Objective& objective, const TrialResult& r) {
  const std::string& n = objective.name;
  if (n == "eval_loss") return r.eval_loss;
  if (n == "loss") return r.final_train_loss;
  if (n == "eval_perplexity") return r.eval_perplexity;
  if (n == "trainable_params") return static_cast<double>(r.trainable_params);
  if (n == "adapter_bytes") return static_cast<double>(r.adapter_bytes);
  if (n == "tokens_per_s") return r.tokens_per_s;
  if (n == "peak_memory_bytes") return static_cast<double>(r.peak_memory_bytes);
  if (n == "wall_s") return r.wall_s;
  if (n == "device_s") return r.device_s();
  if (n == "forgetting") return r.forgetting();
  return std::nullopt;
}

}  // namespace lf::jobs
