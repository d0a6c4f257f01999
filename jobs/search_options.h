// What a sweep optimises and how its model-based searches are tuned: the `objectives` block, the
// `tpe` block (search: tpe and bohb) and the `pbt` block (search: pbt) of a sweep document, their
// parsing (errors name the field) and JSON forms, and how an objective is read off a trial's
// result. Values, thread-safe; the samplers that use them are jobs/tpe.h and jobs/pbt.h.
//
//   objectives: {eval_loss: min, trainable_params: min}   # any of kObjectiveNames
//   tpe: {n_startup_trials: 10, n_ei_candidates: 24, multivariate: true, constant_liar: true}
//   pbt: {perturbation_interval: 20, quantile_fraction: 0.25, resample_probability: 0.25,
//         mutable: [train.lr, lora.dropout]}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"
#include "jobs/job_spec.h"
#include "jobs/trial_result.h"

namespace lf::jobs {

// What an objective may name: the value a finished trial's result holds. eval_loss and loss are
// the last evaluation and the mean of the last training steps; the others are result.json's.
inline constexpr const char* kObjectiveNames[] = {
    "eval_loss",     "loss",         "eval_perplexity",   "trainable_params",
    "adapter_bytes", "tokens_per_s", "peak_memory_bytes", "wall_s",
    "device_s",      "forgetting"};

struct Objective {
  std::string name;          // one of kObjectiveNames
  std::string mode = "min";  // min: lower is better; max
  friend bool operator==(const Objective&, const Objective&) = default;
};

// Optuna's TPESampler settings, with its defaults.
struct TpeOptions {
  int64_t n_startup_trials = 10;  // the first trials (by index) are random samples
  int64_t n_ei_candidates = 24;   // draws from the good trials' density per suggestion
  bool multivariate = false;      // one joint density over every axis; false: one per axis
  bool constant_liar = true;      // unfinished trials count as bad ones, so suggestions differ
  friend bool operator==(const TpeOptions&, const TpeOptions&) = default;
};

// Population-based training (Jaderberg et al. 2017, as Ray Tune's PopulationBasedTraining).
struct PbtOptions {
  int64_t perturbation_interval = 0;      // steps between exploit decisions; required, >= 1
  double quantile_fraction = 0.25;        // the bottom fraction copies the top fraction; (0, 0.5]
  double resample_probability = 0.25;     // explore: a fresh sample instead of a perturbation
  std::vector<std::string> mutable_keys;  // space keys explore changes; required, non-empty
  friend bool operator==(const PbtOptions&, const PbtOptions&) = default;
};

// `f` is the block ("sweep.objectives"); at least one, each min or max.
Result<std::vector<Objective>> ParseObjectives(const JsonField& f);
Json ObjectivesToJson(const std::vector<Objective>& objectives);
Result<TpeOptions> ParseTpeOptions(const JsonField& f);
Json TpeOptionsToJson(const TpeOptions& options);
Result<PbtOptions> ParsePbtOptions(const JsonField& f);
Json PbtOptionsToJson(const PbtOptions& options);

// Whether a trial's job produces the objective: eval_loss and eval_perplexity need data.eval,
// forgetting needs data.general_eval. `path` names the objective ("sweep.objectives.eval_loss").
Status CheckObjectiveForJob(const Objective& objective, const JobSpec& job, std::string_view path);

// The objective's value in a trial's result; nullopt when the result has none (no eval set).
std::optional<double> ObjectiveValue(const Objective& objective, const TrialResult& result);

}  // namespace lf::jobs
