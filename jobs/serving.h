// Whether the common multi-LoRA servers (vLLM, and SGLang and LoRAX, which follow its rules)
// would load an adapter: warnings with the reason, for `lorafleet export` and `compare`, never a
// refusal (an adapter they refuse still loads in PEFT, and merges). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"
#include "jobs/job_spec.h"

namespace lf::jobs {

// What the servers check, read from a job or from a saved adapter_config.json.
struct AdapterShape {
  std::string peft_type;  // "LORA", "IA3", "PROMPT_TUNING", ...; empty: not an adapter (full)
  int64_t r = 0;
  bool use_dora = false;
  std::vector<std::string> target_modules;
  std::vector<std::string> modules_to_save;
  std::string bias = "none";
};

AdapterShape AdapterShapeOfJob(const JobSpec& job);
// `source` names the file in errors.
Result<AdapterShape> AdapterShapeOfPeftConfig(const Json& adapter_config,
                                              const std::string& source);

// One sentence per reason, e.g. "rank 64 is above vLLM's default --max-lora-rank 16: start it with
// --max-lora-rank 64". Empty when a server with default settings loads the adapter.
std::vector<std::string> ServingWarnings(const AdapterShape& adapter);

}  // namespace lf::jobs
