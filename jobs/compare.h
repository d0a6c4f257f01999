// The comparison research teams read: one row per trial with its method, settings and what it
// produced (quality, trainable parameters, adapter size, speed, memory, cost against full
// fine-tuning, forgetting), the quality/size Pareto front, and the columns every client shows.
// One pure function over typed trial summaries: the coordinator's compare view calls it, and the
// CLI and the dashboard render its rows and columns as the API hands them on. Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"
#include "jobs/job_spec.h"
#include "jobs/search_options.h"
#include "jobs/trial_result.h"
#include "jobs/trial_state.h"

namespace lf::jobs {

// What the comparison needs of one trial.
struct TrialSummary {
  std::string trial_id;
  std::string sweep_id;
  TrialState state = TrialState::kQueued;
  Json params = Json::object();  // the swept values: {"lora.r": 8, ...}
  JobSpec job;
  std::optional<TrialResult> result;  // present when HasAdapter(state)
};

struct CompareRow {
  TrialSummary trial;
  std::optional<double> trainable_pct;     // of the base model's parameters
  std::optional<double> device_s_vs_full;  // device-seconds over the full fine-tuning baseline's
  bool pareto_front = false;  // no other trial with an adapter is as good on every objective
  std::vector<std::string> serving_warnings;  // what a multi-LoRA server would refuse or need
};

struct Comparison {
  std::string base_model;
  std::vector<Objective> objectives;  // what the Pareto front weighs
  // Trials with an adapter first, completed before stopped, each by eval loss (lowest first);
  // then the others in the order given.
  std::vector<CompareRow> rows;
};

// Several sweeps compare together only when every trial trains the same base model: otherwise
// kInvalidArgument naming a trial of each. The Pareto front weighs `objectives` (a sweep's
// objectives block), or, when none are given, DefaultFrontObjectives.
Result<Comparison> Compare(std::vector<TrialSummary> trials,
                           std::vector<Objective> objectives = {});
// Quality against size: eval_loss and adapter_bytes, both min.
std::vector<Objective> DefaultFrontObjectives();

// A column of the comparison: the row key, its header, how to show it, and whether the terminal
// table shows it (the CSV and JSON forms carry every column).
struct CompareColumn {
  std::string_view key;
  std::string_view label;
  // text, int, number, fixed2, fixed4, bytes, duration, percent, signed4, ratio, check
  std::string_view format;
  bool terminal = true;
  // Shown only when some row has a number for it (a general eval set, a full baseline).
  bool when_present = false;
};
const std::vector<CompareColumn>& CompareColumns();

// The API's forms: a row as {"trial_id", "state", "method", "r", ..., "params"} and the column
// list as [{"key", "label", "format", "terminal", "when_present"}].
Json CompareRowToJson(const CompareRow& row);
Json CompareColumnsToJson();

}  // namespace lf::jobs
