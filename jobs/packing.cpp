#include "jobs/packing.h"

namespace lf::jobs {

std::string PackKey(const JobSpec& job) {
  if (job.method != Method::kLora) return "";
  // base_model is resolved to an absolute path at submission, so one folder has one spelling.
  return "lora|" + job.base_model + "|" + std::to_string(job.data.seq_len);
}

}  // namespace lf::jobs
