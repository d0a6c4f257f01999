#include "jobs/packing.h"

namespace lf::jobs {

std::string PackKey(const JobSpec& job) {
  if (job.method != Method::kLora) return "";
  // base_model is resolved to an absolute path at submission, so one folder has one spelling.
  // One forward pass serves the whole pack, so its members compute in one precision and all
  // recompute their blocks or none do.
  return "lora|" + job.base_model + "|" + std::to_string(job.data.seq_len) + "|" +
         std::string(PrecisionName(job.train.precision)) +
         (job.train.gradient_checkpointing ? "|checkpointed" : "");
}

}  // namespace lf::jobs
