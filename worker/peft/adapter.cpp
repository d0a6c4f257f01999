// Method dispatch and the PEFT folder format (adapter_config.json + adapter_model.safetensors).
#include "worker/peft/adapter.h"

#include <filesystem>

#include "common/file_util.h"
#include "worker/model/tensor_io.h"
#include "worker/peft/bitfit.h"
#include "worker/peft/bottleneck.h"
#include "worker/peft/compacter.h"
#include "worker/peft/dora.h"
#include "worker/peft/ia3.h"
#include "worker/peft/lora.h"
#include "worker/peft/prompt_learning.h"
#include "worker/peft/qlora.h"

namespace lf::worker {
namespace {

namespace fs = std::filesystem;

// adapter_config.json of a PEFT LoRA adapter -> our LoraSpec (and whether it is DoRA). Settings
// this version cannot honour are refused by name rather than ignored.
Result<jobs::LoraSpec> LoraSpecFromPeft(const JsonField& f, bool* use_dora) {
  jobs::LoraSpec spec;
  LF_ASSIGN_OR_RETURN(spec.r, f.IntAt("r", {.min = 1}));
  LF_ASSIGN_OR_RETURN(spec.alpha, f.NumberOr("lora_alpha", 8, {.min = 0, .exclusive_min = true}));
  LF_ASSIGN_OR_RETURN(spec.dropout, f.NumberOr("lora_dropout", 0, {.min = 0, .max = 1}));
  LF_ASSIGN_OR_RETURN(spec.rslora, f.BoolOr("use_rslora", false));
  LF_ASSIGN_OR_RETURN(JsonField targets, f.Required("target_modules"));
  if (targets.json().is_string()) {
    return targets.Error("a regular expression is not supported; list the module names");
  }
  LF_ASSIGN_OR_RETURN(spec.target_modules, targets.StringList());
  if (auto layers = f.Optional("layers_to_transform")) {
    if (layers->json().is_number()) {
      LF_ASSIGN_OR_RETURN(int64_t l, layers->Int({.min = 0}));
      spec.layers_to_transform.push_back(l);
    } else {
      LF_ASSIGN_OR_RETURN(auto elements, layers->Elements());
      for (const JsonField& e : elements) {
        LF_ASSIGN_OR_RETURN(int64_t l, e.Int({.min = 0}));
        spec.layers_to_transform.push_back(l);
      }
    }
  }
  LF_ASSIGN_OR_RETURN(*use_dora, f.BoolOr("use_dora", false));
  LF_ASSIGN_OR_RETURN(std::string bias, f.StringOr("bias", "none"));
  if (bias != "none") return f.Required("bias")->Error("only bias \"none\" is supported");
  LF_ASSIGN_OR_RETURN(bool lora_bias, f.BoolOr("lora_bias", false));
  if (lora_bias) return f.Required("lora_bias")->Error("LoRA biases are not supported");
  for (const char* key : {"exclude_modules", "target_parameters", "layer_replication"}) {
    if (auto p = f.Optional(key); p && !p->json().empty()) {
      return p->Error("is not supported by this version; leave it null");
    }
  }
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    if (auto p = f.Optional(key); p && !p->json().empty()) {
      return p->Error("per-module ranks and alphas are not supported");
    }
  }
  if (auto m = f.Optional("modules_to_save"); m && !m->json().empty()) {
    return m->Error("modules_to_save is not supported");
  }
  return spec;
}

// adapter_config.json of a PEFT IA³ adapter -> our Ia3Spec.
Result<jobs::Ia3Spec> Ia3SpecFromPeft(const JsonField& f) {
  jobs::Ia3Spec spec;
  for (auto [key, out] : {std::pair{"target_modules", &spec.target_modules},
                          {"feedforward_modules", &spec.feedforward_modules}}) {
    LF_ASSIGN_OR_RETURN(JsonField list, f.Required(key));
    if (list.json().is_string()) {
      return list.Error("a regular expression is not supported; list the module names");
    }
    LF_ASSIGN_OR_RETURN(*out, list.StringList());
  }
  for (const char* key : {"exclude_modules", "modules_to_save"}) {
    if (auto p = f.Optional(key); p && !p->json().empty()) {
      return p->Error("is not supported by this version; leave it null");
    }
  }
  return spec;
}

}  // namespace

int64_t Adapter::NumTrainable() {
  int64_t n = 0;
  for (const torch::Tensor& t : Parameters()) n += t.numel();
  return n;
}

Result<std::unique_ptr<Adapter>> CreateAdapter(CausalLm& model, const jobs::JobSpec& job,
                                               uint64_t seed) {
  switch (job.method) {
    case jobs::Method::kLora: return CreateLora(model, job.lora, seed);
    case jobs::Method::kDora: return CreateDora(model, job.dora, seed);
    case jobs::Method::kIa3: return CreateIa3(model, job.ia3);
    case jobs::Method::kQlora: return CreateQlora(model, job.qlora, seed);
    case jobs::Method::kPromptTuning: return CreatePromptTuning(model, job.prompt_tuning, seed);
    case jobs::Method::kPTuning: return CreatePTuning(model, job.p_tuning, seed);
    case jobs::Method::kPrefixTuning: return CreatePrefixTuning(model, job.prefix_tuning, seed);
    case jobs::Method::kBottleneck: return CreateBottleneck(model, job.bottleneck, seed);
    case jobs::Method::kCompacter: return CreateCompacter(model, job.compacter, seed);
    case jobs::Method::kBitfit: return CreateBitfit(model, job.base_model);
    case jobs::Method::kFull: break;
  }
  return InvalidArgument("job.method: full fine-tuning trains the base itself and has no "
                         "adapter (RunTrainJob passes no adapter to the trainer)");
}

Status SaveAdapter(const Adapter& adapter, const std::string& dir,
                   const std::string& base_model_name_or_path) {
  LF_RETURN_IF_ERROR(CreateDirectories(dir));
  LF_RETURN_IF_ERROR(
      WriteFileAtomically((fs::path(dir) / "adapter_config.json").string(),
                          adapter.PeftConfig(base_model_name_or_path).dump(2) + "\n"));
  std::map<std::string, torch::Tensor> tensors;
  for (auto& [key, t] : adapter.StateDict()) tensors[key] = t.to(torch::kCPU).contiguous();
  return SaveTensors(tensors, (fs::path(dir) / "adapter_model.safetensors").string());
}

Result<std::unique_ptr<Adapter>> LoadAdapter(CausalLm& model, const std::string& dir) {
  const std::string config_path = (fs::path(dir) / "adapter_config.json").string();
  const std::string weights_path = (fs::path(dir) / "adapter_model.safetensors").string();
  if (!fs::exists(config_path)) {
    return NotFound("adapter folder " + dir + " has no adapter_config.json");
  }
  if (!fs::exists(weights_path)) {
    return NotFound("adapter folder " + dir + " has no adapter_model.safetensors (PEFT's "
                    "adapter_model.bin is not read; re-save with safe_serialization=True)");
  }
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(config_path, kMaxSettingsFileBytes));
  LF_ASSIGN_OR_RETURN(Json doc, ParseJson(text, config_path));
  JsonField root(doc, FieldPath());
  Result<std::string> type = root.StringAt("peft_type");
  if (!type.ok()) return type.status().WithContext(config_path);
  std::unique_ptr<Adapter> adapter;
  if (*type == "LORA") {
    bool use_dora = false;
    Result<jobs::LoraSpec> spec = LoraSpecFromPeft(root, &use_dora);
    if (!spec.ok()) return spec.status().WithContext(config_path);
    LF_ASSIGN_OR_RETURN(adapter,
                        use_dora ? CreateDora(model, *spec, 0) : CreateLora(model, *spec, 0));
  } else if (*type == "IA3") {
    Result<jobs::Ia3Spec> spec = Ia3SpecFromPeft(root);
    if (!spec.ok()) return spec.status().WithContext(config_path);
    LF_ASSIGN_OR_RETURN(adapter, CreateIa3(model, *spec, /*resolve_defaults=*/false));
  } else if (*type == "PROMPT_TUNING" || *type == "P_TUNING" || *type == "PREFIX_TUNING") {
    Result<std::unique_ptr<Adapter>> loaded = CreatePromptLearningFromPeft(model, root, *type);
    if (!loaded.ok()) return loaded.status().WithContext(config_path);
    adapter = std::move(loaded).value();
  } else if (*type == "BOTTLENECK") {
    Result<jobs::BottleneckSpec> spec = BottleneckSpecFromConfig(root);
    if (!spec.ok()) return spec.status().WithContext(config_path);
    Result<std::unique_ptr<Adapter>> created = CreateBottleneck(model, *spec, 0);
    if (!created.ok()) return created.status().WithContext(config_path);
    adapter = std::move(created).value();
  } else if (*type == "COMPACTER") {
    Result<jobs::CompacterSpec> spec = CompacterSpecFromConfig(root);
    if (!spec.ok()) return spec.status().WithContext(config_path);
    Result<std::unique_ptr<Adapter>> created = CreateCompacter(model, *spec, 0);
    if (!created.ok()) return created.status().WithContext(config_path);
    adapter = std::move(created).value();
  } else if (*type == "BITFIT") {
    Result<JsonField> names_field = root.Required("bias_names");
    if (!names_field.ok()) return names_field.status().WithContext(config_path);
    Result<std::vector<std::string>> names = names_field->StringList();
    if (!names.ok()) return names.status().WithContext(config_path);
    if (names->empty()) return InvalidArgument(config_path + ": bias_names is empty");
    Result<std::unique_ptr<Adapter>> bitfit =
        CreateBitfit(model, root.StringOr("base_model_name_or_path", dir).value_or(dir), *names);
    if (!bitfit.ok()) return bitfit.status().WithContext(config_path);
    adapter = std::move(bitfit).value();
  } else {
    return InvalidArgument(config_path + ": peft_type \"" + *type +
                           "\" is not supported by this version (LORA, with or without "
                           "use_dora, IA3, PROMPT_TUNING, P_TUNING, PREFIX_TUNING, BOTTLENECK, "
                           "COMPACTER and BITFIT are)");
  }
  LF_ASSIGN_OR_RETURN(safetensors::File file, safetensors::File::Open(weights_path));
  LF_ASSIGN_OR_RETURN(auto tensors, LoadAllTensors(file));
  auto options = TrainableOptions(model.LinearModules().front()->weight);
  for (auto& [key, t] : tensors) t = t.to(options);
  LF_RETURN_IF_ERROR(adapter->LoadStateDict(tensors, weights_path));
  return adapter;
}

}  // namespace lf::worker
