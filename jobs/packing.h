// Which trials can train together as one pack on a worker (worker/train/packed_trainer.h): plain
// LoRA trials on the same base model with rows of the same length (and the same train.precision
// and gradient_checkpointing) share every frozen base matmul,
// while their rank, alpha, dropout, targets, learning rate, schedule, seed and data may differ.
// Pure, thread-safe.
#pragma once

#include <string>

#include "jobs/job_spec.h"

namespace lf::jobs {

// Equal non-empty keys: the jobs may share a pack. Empty: the job trains alone (a method other
// than plain LoRA: DoRA, QLoRA, IA³, prompt learning and adapters change the base's computation,
// full fine-tuning trains the base itself).
std::string PackKey(const JobSpec& job);

}  // namespace lf::jobs
