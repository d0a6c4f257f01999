// The parts of a sweep's parsing that concern its search (search: tpe, bohb, pbt and the
// objectives): checks ParseSweepSpec runs. Internal to lf_jobs; users call jobs/sweep_spec.h.
#pragma once

#include "common/json_reader.h"
#include "common/status.h"
#include "jobs/job_spec.h"
#include "jobs/sweep_spec.h"

namespace lf::jobs::internal {

// What a search needs of the document as a whole (before any job is parsed); `f` is the sweep.
Status CheckSearch(const SweepSpec& spec, const JsonField& f);
// What a search needs of the trials' jobs, checked on the first one.
Status CheckSearchForJob(const SweepSpec& spec, const JobSpec& job, const FieldPath& root);

}  // namespace lf::jobs::internal
