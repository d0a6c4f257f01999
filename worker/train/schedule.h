// Learning-rate schedules with linear warmup, as Hugging Face's get_*_schedule_with_warmup
// compute them. Pure functions, thread-safe.
#pragma once

#include <cstdint>

#include "jobs/job_spec.h"

namespace lf::worker {

// The learning rate for optimizer step `step` (0-based) of `total` steps.
double LearningRateAt(const jobs::TrainSpec& spec, int64_t step);

}  // namespace lf::worker
