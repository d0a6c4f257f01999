#include "worker/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace lf::worker {

double LearningRateAt(const jobs::TrainSpec& spec, int64_t step) {
  const double warmup = static_cast<double>(spec.warmup);
  const double s = static_cast<double>(step);
  if (spec.warmup > 0 && s < warmup) return spec.lr * s / warmup;
  const double decay_steps = std::max(1.0, static_cast<double>(spec.steps) - warmup);
  const double progress = std::clamp((s - warmup) / decay_steps, 0.0, 1.0);
  switch (spec.schedule) {
    case jobs::Schedule::kConstant: return spec.lr;
    case jobs::Schedule::kLinear: return spec.lr * (1.0 - progress);
    case jobs::Schedule::kCosine: return spec.lr * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  return spec.lr;
}

}  // namespace lf::worker
