// Population-based training (Jaderberg et al. 2017) as Ray Tune's PopulationBasedTraining decides
// it: the exploit and explore rule of search: pbt. Pure and deterministic under the sweep's seed;
// the coordinator feeds it the population's latest values and carries out the decision (a new
// trial that resumes from the chosen trial's checkpoint with perturbed values; the replaced trial
// ends early). Values, thread-safe.
//
// The rule. When a trial reports the objective at a step that is a multiple of
// perturbation_interval (and before its last step), the members with a value are ranked; with m =
// ceil(n * quantile_fraction), at most n / 2, a trial among the worst m copies one of the best m
// (chosen at random among those with a checkpoint). Explore changes each mutable key: with
// probability resample_probability a fresh sample of its axis, else a continuous value times 0.8
// or 1.2 (clamped to its range, rounded for integers) or a list value's neighbour.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json_reader.h"
#include "jobs/search_options.h"
#include "jobs/sweep_spec.h"

namespace lf::jobs {

struct PbtMember {
  std::string trial_id;
  uint32_t index = 0;
  double value = 0;         // its latest value of the objective
  bool can_source = false;  // has a checkpoint to copy
  Json params;
};

struct PbtExploit {
  std::string source_id;  // the trial whose state is copied
  Json params;            // the new trial's values: the source's, explored
};

// Whether `trial_id` (one of `population`) copies another; `salt` tells decisions apart (the
// trial's index and the step).
std::optional<PbtExploit> DecidePbt(const SweepSpec& spec, const Objective& objective,
                                    const std::vector<PbtMember>& population,
                                    const std::string& trial_id, uint64_t salt);

// The keys explore may change: the checkpoint still fits them (not the adapter's shape).
bool PbtKeyIsMutable(std::string_view key);

}  // namespace lf::jobs
