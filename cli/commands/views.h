// What the remote commands print, built from the coordinator's JSON replies: the tables of
// sweeps, trials, the queue, workers and a sweep's comparison, metric lines for `logs`, and the
// live lines of `submit --wait`. Pure functions of their arguments (no I/O): thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands/table.h"
#include "common/json_reader.h"
#include "jobs/trial_state.h"

namespace lf::cli {

// The "state" of a trial (or a comparison row) as jobs' enum, for jobs::IsFinal, IsActive and
// HasAdapter; nullopt when absent or a name this version does not know.
std::optional<jobs::TrialState> TrialStateOf(const Json& trial);
// A sweep's "state" is cancelled or finished: nothing more will run.
bool IsFinalSweep(const Json& sweep);

// "3 queued, 2 running, 1 completed": the non-zero counts, in lifecycle order; "no trials" when
// every count is zero.
std::string CountsLine(const Json& counts);

Table SweepsTable(const Json& sweeps);
Table TrialsTable(const Json& trials);
Table QueuedTable(const Json& queued);
Table RunningTable(const Json& running);
Table WorkersTable(const Json& workers);
// GET /v1/adapters' rows: trial, tags, sweep, method, base model, eval loss, size, finished.
Table AdaptersTable(const Json& adapters);

// Swept parameter keys in the rows' params other than the ones compare shows in their own columns
// (method, lora.r, lora.alpha, train.lr), sorted.
std::vector<std::string> ExtraParamKeys(const Json& rows);
// The comparison's rows (jobs::CompareRowToJson) in their given order, under jobs::CompareColumns:
// raw, every column with its key as header and cells as plain numbers with full precision (for
// CSV); otherwise the terminal's columns, labelled and formatted for reading ("-" for missing
// values). Swept keys without a column of their own come last.
Table CompareTable(const Json& rows, bool raw);
// The compare reply's "repeats": one row per configuration (its swept values, seed aside) with
// the trials it ran, its mean eval loss with the 95% interval, and how it stands against the best.
Table RepeatsTable(const Json& repeats);

// A metric record from GET /v1/trials/{id}/metrics, with the trial it belongs to.
struct MetricPoint {
  std::string trial_id;
  int64_t step = 0;
  std::string name;
  double value = 0;
  int64_t time_ms = 0;
};
// One line per (trial, step), in the points' order of first appearance:
// "step 10 loss 2.134 lr 0.002 tokens/s 5234". `with_trial` prefixes the trial id.
std::vector<std::string> MetricLines(const std::vector<MetricPoint>& points, bool with_trial);
// A metric value as people read it: integers plainly, large values rounded, small with 4
// significant digits ("2.134", "0.002", "5234").
std::string FormatMetric(std::string_view name, double value);

// "2026-05-01 12:03:04 scheduler trial.transition 01j...-000001 queued -> assigned ...".
std::string EventLine(const Json& event);

// "[#####.......]" of `width` characters for step/steps.
std::string ProgressBar(int64_t step, int64_t steps, int width);
// The lines `submit --wait` draws for a sweep reply ({"sweep", "trials"}): one per trial that is
// assigned or running (id, params, bar, step/steps, the latest loss from `loss`), then a total
// line. `width` bounds each line (0: no bound).
std::vector<std::string> LiveLines(const Json& reply, const std::map<std::string, double>& loss,
                                   size_t width);
// A line for a trial's change of state seen between two polls:
// "trial 01j...-000002 running -> completed (attempt 1) on host/0/1234".
std::string TransitionLine(const Json& trial, std::string_view old_state);

}  // namespace lf::cli
