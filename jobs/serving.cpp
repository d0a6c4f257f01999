#include "jobs/serving.h"

#include <algorithm>
#include <array>

namespace lf::jobs {
namespace {

// vLLM's --max-lora-rank accepts these values (MaxLoRARanks); its default is 16.
constexpr std::array<int64_t, 9> kServerRanks = {1, 8, 16, 32, 64, 128, 256, 320, 512};
constexpr int64_t kDefaultServerRank = 16;

// Modules the servers give no LoRA to: the output head and the embeddings.
bool IsHeadOrEmbedding(const std::string& name) {
  for (const char* suffix : {"lm_head", "embed_tokens", "wte", "wpe", "embed_out"}) {
    const std::string s = suffix;
    if (name == s || (name.size() > s.size() && name.ends_with("." + s))) return true;
  }
  return false;
}

}  // namespace

AdapterShape AdapterShapeOfJob(const JobSpec& job) {
  AdapterShape shape;
  shape.peft_type = PeftType(job.method);
  if (const LoraSpec* lora = LoraSettings(job)) {
    shape.r = lora->r;
    shape.use_dora = job.method == Method::kDora;
    shape.target_modules = lora->target_modules;
  }
  return shape;
}

Result<AdapterShape> AdapterShapeOfPeftConfig(const Json& adapter_config,
                                              const std::string& source) {
  JsonField root(adapter_config, FieldPath(source));
  if (!root.IsObject()) return root.Error("expected an object");
  AdapterShape shape;
  LF_ASSIGN_OR_RETURN(shape.peft_type, root.StringAt("peft_type"));
  LF_ASSIGN_OR_RETURN(shape.r, root.IntOr("r", 0, {.min = 0}));
  LF_ASSIGN_OR_RETURN(shape.use_dora, root.BoolOr("use_dora", false));
  LF_ASSIGN_OR_RETURN(shape.bias, root.StringOr("bias", "none"));
  for (auto [key, out] : {std::pair{"target_modules", &shape.target_modules},
                          {"modules_to_save", &shape.modules_to_save}}) {
    auto field = root.Optional(key);
    if (!field) continue;
    if (field->json().is_string()) {  // PEFT also writes one regex as a string
      out->push_back(field->json().get<std::string>());
    } else {
      LF_ASSIGN_OR_RETURN(*out, field->StringList());
    }
  }
  return shape;
}

std::vector<std::string> ServingWarnings(const AdapterShape& a) {
  std::vector<std::string> warnings;
  if (a.peft_type.empty()) return warnings;
  if (a.peft_type != "LORA") {
    warnings.push_back("vLLM serves LoRA adapters only; this is a " + a.peft_type +
                       " adapter (merge it into the base with `lorafleet merge` to serve it)");
    return warnings;
  }
  if (a.use_dora) {
    warnings.push_back(
        "vLLM does not load DoRA adapters (use_dora); merge it into the base "
        "with `lorafleet merge` to serve it");
  }
  if (a.r > kServerRanks.back()) {
    warnings.push_back("rank " + std::to_string(a.r) +
                       " is above the largest --max-lora-rank "
                       "vLLM accepts (" +
                       std::to_string(kServerRanks.back()) + ")");
  } else if (a.r > kDefaultServerRank) {
    const int64_t needed = *std::lower_bound(kServerRanks.begin(), kServerRanks.end(), a.r);
    warnings.push_back("rank " + std::to_string(a.r) +
                       " is above vLLM's default "
                       "--max-lora-rank " +
                       std::to_string(kDefaultServerRank) + ": start it with --max-lora-rank " +
                       std::to_string(needed));
  }
  for (const std::string& m : a.target_modules) {
    if (IsHeadOrEmbedding(m)) {
      warnings.push_back("target module \"" + m +
                         "\": vLLM applies LoRA to the decoder's "
                         "linear layers only, not to lm_head or the embeddings");
    }
  }
  if (!a.modules_to_save.empty()) {
    warnings.push_back("modules_to_save (fully trained modules) are not loaded by vLLM");
  }
  if (a.bias != "none") {
    warnings.push_back("bias \"" + a.bias + "\": vLLM loads LoRA adapters without trained biases");
  }
  return warnings;
}

}  // namespace lf::jobs
