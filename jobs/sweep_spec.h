// A hyperparameter sweep as users submit it: a base job, a search space over its keys, and how
// the coordinator schedules the resulting trials. Parsing and expansion are pure (no I/O) and
// deterministic; every error names its field path ("sweep.space.lora.r[2]: expected ...") and is
// checked up front, before any trial runs. Values, thread-safe.
//
// The document (YAML via common/yaml.h, or JSON):
//
//   name: lora-ranks
//   base:                      # required: a job, the keys of `lorafleet train`'s job file, but
//     base_model: m            #   no `output` (the coordinator chooses trial output folders)
//     data: {train: t.jsonl}
//     lora: {r: 8}
//   space:                     # optional; absent: the base job alone
//     lora.r: [1, 2, 4, 8]                   # a list: a grid axis (one value per trial)
//     train.lr: {loguniform: [1.0e-5, 1.0e-3]}  # uniform in log space, low > 0
//     lora.dropout: {uniform: [0.0, 0.1]}    # a number between low and high
//     lora.alpha: {int: [8, 64]}             # an integer, both ends included
//     lora.target_modules: {choice: [[c_attn], [c_attn, c_fc]]}  # one of the values at random
//   search: grid               # grid (default), random, tpe, bohb or pbt
//   seed: 0                    # seeds the sampling; training's seed is base.train.seed
//   num_samples: 1             # grid: repeats of the whole grid; random, tpe, bohb: the number
//                              #   of trials; pbt: the population
//   objectives: {eval_loss: min}   # optional: what tpe/bohb/pbt optimise and compare's Pareto
//                              #   front shows (jobs/search_options.h); default: the early
//                              #   stopping metric, else eval_loss (loss without data.eval)
//   tpe: {n_startup_trials: 10}    # optional, tpe and bohb (jobs/search_options.h)
//   pbt: {perturbation_interval: 20, mutable: [train.lr]}   # required by pbt
//   priority: 0                # higher runs first; any int32
//   max_retries: 2             # retries of retryable failures per trial, 0 to 100
//   max_concurrent: 0          # trials of this sweep running at once; 0: no limit
//   resources: {gpus: 1, memory: 2GiB}   # per trial; memory 0 or absent: any
//   early_stopping:            # optional; absent: every trial trains to its end
//     type: asha               # the rule (jobs/asha.h): the only one built
//     metric: eval_loss        # a metric trials report per step: loss, eval_loss, ...
//     mode: min                # min: lower is better; max
//     grace_period: 100        # steps before the first rung, >= 1
//     reduction_factor: 3      # >= 2: the best 1/3 at each rung continue, the others stop
//     max_rungs: 4             # optional; absent: every rung below train.steps
//
// Space keys are dotted paths into the base job; a missing leaf (or missing parent objects) is
// added, a parent that is not an object is an error. Axes are ordered by key (the Json tree keeps
// object keys sorted, not in document order).
//
// search: grid crosses the list axes like nested loops in key order (the first axis varies
// slowest), samples the other axes once per trial, and repeats the whole grid num_samples times;
// repeat k > 0 adds k to train.seed (unless train.seed is swept) so repeats differ.
// search: random makes exactly num_samples trials; a list axis is a uniform choice of its values.
// Sampling uses a SplitMix64 stream per trial, derived from `seed` and the trial's index, and our
// own mapping to numbers, so a sweep expands to the same trials on every platform and run (up to
// the last bit of loguniform values, which go through the C library's log and exp).
// A range axis's ends must satisfy low < high; every list must have at least one value.
//
// search: tpe makes its first tpe.n_startup_trials trials as random search would (the same
// values for the same seed), then suggests each further trial from the results stored so far
// (jobs/tpe.h) when the coordinator needs one. search: bohb is tpe whose trials are spread over
// Hyperband brackets of the early_stopping rungs (required; jobs/hyperband.h). search: pbt starts
// num_samples random trials and lets the coordinator replace the worst with perturbed copies of
// the best every perturbation_interval steps (jobs/pbt.h); it needs checkpoints at that interval.
//
// early_stopping's rungs sit at steps grace_period * reduction_factor^k below train.steps; a trial
// reaching a rung behind the best 1/reduction_factor of the values recorded there ends early, as
// stopped, with its adapter (jobs/asha.h has the rule). Every trial's job must report the metric
// before its end (eval_loss: data.eval and train.eval_every > 0) and have a rung.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"
#include "jobs/asha.h"
#include "jobs/job_spec.h"
#include "jobs/search_options.h"

namespace lf::jobs {

// One axis of the search space: a dotted key into the job document ("lora.r", "train.lr",
// "lora.target_modules", "data.train") and how its values are chosen.
struct SearchAxis {
  enum class Kind { kGrid, kChoice, kUniform, kLogUniform, kInt };
  std::string key;
  Kind kind = Kind::kGrid;
  std::vector<Json> values;  // kGrid, kChoice
  double low = 0, high = 0;  // kUniform, kLogUniform, kInt (inclusive ints)

  friend bool operator==(const SearchAxis&, const SearchAxis&) = default;
};

struct ResourceSpec {
  int64_t gpus = 1;          // device slots (ranks) per trial; a CPU rank counts as one
  int64_t memory_bytes = 0;  // device memory a trial needs; 0: any

  friend bool operator==(const ResourceSpec&, const ResourceSpec&) = default;
};

struct SweepSpec {
  std::string name;
  Json base;                      // the base job document, keys as in `lorafleet train`'s job file
  std::vector<SearchAxis> space;  // ordered by key
  std::string search = "grid";    // "grid", "random", "tpe", "bohb" or "pbt"
  uint64_t seed = 0;
  int64_t num_samples = 1;
  int32_t priority = 0;        // higher runs first
  int32_t max_retries = 2;     // retries of retryable failures per trial
  int32_t max_concurrent = 0;  // trials of this sweep running at once; 0: no limit
  ResourceSpec resources;
  std::optional<AshaConfig> early_stopping;  // absent: no early stopping
  std::vector<Objective> objectives;  // as stated; empty: SearchObjectives' default
  TpeOptions tpe;                     // search: tpe, bohb
  PbtOptions pbt;                     // search: pbt

  // tpe, bohb and pbt make trials while the sweep runs; grid and random all at submission.
  bool adaptive() const { return search == "tpe" || search == "bohb" || search == "pbt"; }
  // tpe and bohb suggest trials from a model of the results.
  bool model_based() const { return search == "tpe" || search == "bohb"; }

  friend bool operator==(const SweepSpec&, const SweepSpec&) = default;
};

struct TrialSpec {
  uint32_t index = 0;  // 0-based, expansion order
  Json params;         // {"lora.r": 4, "train.lr": 0.002}: this trial's values of the swept keys
  JobSpec job;         // the base job with params substituted, parsed and validated; no output
};

// `root` names the document in error paths ("sweep" -> "sweep.space.lora.r[2]: ..."). Checks the
// base job with every value of every list and choice axis and both ends of every range, so a bad
// value is reported here, with its index, however large the grid.
Result<SweepSpec> ParseSweepSpec(const Json& doc, std::string_view root = "sweep");

// Expands and validates every trial (each substituted job goes through ParseJobSpec), in index
// order; for an adaptive search, the trials made at submission (tpe, bohb: the random startup
// trials, at least one; pbt: the population), while the limits count num_samples. Refuses, before building any, more than max_trials trials, or trials whose job documents
// would take more than max_bytes together (estimated from the base and each axis's largest
// value: a 1 MiB string in the base times 100000 trials is refused here, not after 100 GB).
// Also accepts a SweepSpec built in code: it is checked as ParseSweepSpec would check it. Error
// paths are rooted at "sweep".
Result<std::vector<TrialSpec>> ExpandSweep(const SweepSpec& spec, size_t max_trials = 100000,
                                           size_t max_bytes = size_t{256} << 20);

// How many trials a sweep runs when nothing is stopped: grid size times num_samples, else
// num_samples (pbt: the population; its replacements come on top).
int64_t PlannedTrials(const SweepSpec& spec);

// The values random search gives trial `index` (what tpe's startup trials take).
Json RandomParams(const SweepSpec& spec, uint32_t index);

// Trial `index` with `params` (a value for every space key, e.g. a sampler's suggestion):
// substituted, parsed and checked as ExpandSweep checks its trials.
Result<TrialSpec> MakeTrial(const SweepSpec& spec, uint32_t index, const Json& params);

// What tpe, bohb and pbt optimise: the stated objectives, else the early stopping metric when it
// is an objective, else eval_loss when `job` evaluates, else loss (all min unless stated).
std::vector<Objective> SearchObjectives(const SweepSpec& spec, const JobSpec& job);

// Makes the relative file paths of the base job and of the space's values absolute against
// `base_dir` (the keys jobs::ResolveJobPaths resolves), so trials made later, by a coordinator
// that does not know where the sweep was submitted from, read the same files.
void ResolveSweepPaths(SweepSpec* spec, std::string_view base_dir);

// The files a trial's job reads (after ResolveJobPaths) exist where this process runs: the base
// model's config.json, the data files, a chat template. The error's field says whether the path
// came from the space or the base ("sweep.space.data.train"). `checked` skips paths already seen.
Status CheckTrialFiles(const TrialSpec& trial, std::set<std::string>* checked);

// The resolved form stored with the sweep (every default written out; memory in bytes);
// ParseSweepSpec(SweepSpecToJson(s)) gives s back.
Json SweepSpecToJson(const SweepSpec& spec);

// Size strings: "512MiB", "8GiB", "2GB", "1.5G", or a plain integer of bytes. Units are case-
// insensitive; K/M/G/T and KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB powers of 1000.
// `path` names the field in errors.
Result<int64_t> ParseByteSize(const Json& value, std::string_view path);

}  // namespace lf::jobs
