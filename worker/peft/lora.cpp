#include "worker/peft/lora.h"

#include <algorithm>
#include <cmath>

namespace lf::worker {
namespace {

constexpr const char* kKeyPrefix = "base_model.model.";

struct LoraWeights {
  torch::Tensor a;  // [r, in]
  torch::Tensor b;  // [out, r]
};

class LoraAdapter final : public Adapter {
 public:
  LoraAdapter(const ModelConfig& config, jobs::LoraSpec spec)
      : config_(config), spec_(std::move(spec)) {
    scale_ = LoraScale(spec_);
  }

  jobs::Method method() const override { return jobs::Method::kLora; }

  void AddModule(const LinearModule& m) {
    auto opts = TrainableOptions(m.weight);
    LoraWeights w;
    w.a = torch::empty({spec_.r, m.in_features()}, opts);
    // PEFT: nn.init.kaiming_uniform_(A, a=sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in)).
    const double bound = 1.0 / std::sqrt(static_cast<double>(m.in_features()));
    {
      torch::NoGradGuard no_grad;
      w.a.uniform_(-bound, bound);
    }
    w.b = torch::zeros({m.out_features(), spec_.r}, opts);
    w.a.set_requires_grad(true);
    w.b.set_requires_grad(true);
    order_.push_back(m.name);
    modules_[m.name] = std::move(w);
  }

  torch::Tensor Apply(const LinearModule& m, const torch::Tensor& x, torch::Tensor base) override {
    auto it = modules_.find(m.name);
    if (it == modules_.end()) return base;
    torch::Tensor h = spec_.dropout > 0 ? torch::dropout(x, spec_.dropout, training_) : x;
    torch::Tensor delta = torch::matmul(torch::matmul(h, InDtypeOf(it->second.a, h).t()),
                                        InDtypeOf(it->second.b, h).t());
    // In place: `base` is a fresh output that backward does not need, so no full-size temporary.
    return base.add_(delta, scale_);
  }

  std::vector<torch::Tensor> Parameters() override {
    std::vector<torch::Tensor> out;
    for (const std::string& name : order_) {
      out.push_back(modules_[name].a);
      out.push_back(modules_[name].b);
    }
    return out;
  }

  void SetTraining(bool training) override { training_ = training; }

  std::map<std::string, torch::Tensor> StateDict() const override {
    std::map<std::string, torch::Tensor> out;
    for (const auto& [name, w] : modules_) {
      out[kKeyPrefix + name + ".lora_A.weight"] = w.a.detach();
      out[kKeyPrefix + name + ".lora_B.weight"] = w.b.detach();
    }
    return out;
  }

  Status LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source) override {
    size_t used = 0;
    torch::NoGradGuard no_grad;
    for (auto& [name, w] : modules_) {
      for (auto [suffix, target] : {std::pair{".lora_A.weight", &w.a}, {".lora_B.weight", &w.b}}) {
        const std::string key = kKeyPrefix + name + suffix;
        auto it = tensors.find(key);
        if (it == tensors.end()) return InvalidArgument(source + ": missing tensor '" + key + "'");
        if (it->second.sizes() != target->sizes()) {
          return InvalidArgument(source + ": tensor '" + key + "' has shape " +
                                 c10::str(it->second.sizes()) + ", expected " +
                                 c10::str(target->sizes()) + " for r=" + std::to_string(spec_.r));
        }
        target->copy_(it->second);
        ++used;
      }
    }
    if (used != tensors.size()) {
      for (const auto& [key, t] : tensors) {
        bool known = false;
        for (const auto& [name, w] : modules_) {
          known |= key == kKeyPrefix + name + ".lora_A.weight" ||
                   key == kKeyPrefix + name + ".lora_B.weight";
        }
        if (!known) {
          return InvalidArgument(source + ": tensor '" + key +
                                 "' does not belong to any targeted module of this model");
        }
      }
    }
    return Status::Ok();
  }

  Json PeftConfig(const std::string& base) const override {
    return LoraPeftConfig(config_, spec_, base, /*use_dora=*/false);
  }

  Status MergeInto(CausalLm& model) const override {
    torch::NoGradGuard no_grad;
    for (LinearModule* m : model.LinearModules()) {
      auto it = modules_.find(m->name);
      if (it == modules_.end()) continue;
      m->weight.add_(torch::matmul(it->second.b, it->second.a) * scale_);
    }
    return Status::Ok();
  }

  std::optional<LoraPath> Path(const std::string& module) const {
    auto it = modules_.find(module);
    if (it == modules_.end()) return std::nullopt;
    return LoraPath{.a = it->second.a,
                    .b = it->second.b,
                    .scale = scale_,
                    .dropout = training_ ? spec_.dropout : 0.0};
  }

 private:
  ModelConfig config_;
  jobs::LoraSpec spec_;
  double scale_ = 1.0;
  bool training_ = false;
  std::vector<std::string> order_;
  std::map<std::string, LoraWeights> modules_;
};

}  // namespace

bool IsPlainLora(const Adapter& adapter) {
  return dynamic_cast<const LoraAdapter*>(&adapter) != nullptr;
}

std::optional<LoraPath> LoraPathOf(const Adapter& adapter, const std::string& module) {
  const auto* lora = dynamic_cast<const LoraAdapter*>(&adapter);
  return lora != nullptr ? lora->Path(module) : std::nullopt;
}

std::vector<std::string> DefaultLoraTargets(const ModelConfig& config) {
  if (config.arch == Architecture::kGpt2) return {"c_attn"};
  // PEFT has no default for phi3; its fused attention input plays the part of q_proj and v_proj.
  if (config.model_type == "phi3") return {"qkv_proj"};
  return {"q_proj", "v_proj"};  // llama, mistral, qwen2, qwen3, gemma2, gemma3_text
}

bool MatchesTarget(const std::string& module, const std::vector<std::string>& targets) {
  for (const std::string& t : targets) {
    if (module == t) return true;
    if (module.size() > t.size() && module.compare(module.size() - t.size(), t.size(), t) == 0 &&
        module[module.size() - t.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

double LoraScale(const jobs::LoraSpec& spec) {
  return spec.rslora ? spec.alpha / std::sqrt(static_cast<double>(spec.r))
                     : spec.alpha / static_cast<double>(spec.r);
}

Json LoraPeftConfig(const ModelConfig& config, const jobs::LoraSpec& spec, const std::string& base,
                    bool use_dora) {
  Json layers = spec.layers_to_transform.empty() ? Json(nullptr) : Json(spec.layers_to_transform);
  return {{"alpha_pattern", Json::object()},
          {"auto_mapping", nullptr},
          {"base_model_name_or_path", base},
          {"bias", "none"},
          {"fan_in_fan_out", config.arch == Architecture::kGpt2},
          {"inference_mode", true},
          {"init_lora_weights", true},
          {"layers_pattern", nullptr},
          {"layers_to_transform", layers},
          {"lora_alpha", spec.alpha},
          {"lora_dropout", spec.dropout},
          {"modules_to_save", nullptr},
          {"peft_type", "LORA"},
          {"r", spec.r},
          {"rank_pattern", Json::object()},
          {"revision", nullptr},
          {"target_modules", spec.target_modules},
          {"task_type", "CAUSAL_LM"},
          {"use_dora", use_dora},
          {"use_rslora", spec.rslora}};
}

Result<std::vector<LinearModule*>> SelectModules(CausalLm& model,
                                                 const std::vector<std::string>& targets,
                                                 const std::vector<int64_t>& layers,
                                                 const std::string& field) {
  for (int64_t layer : layers) {
    if (layer >= model.config().layers) {
      return InvalidArgument(field + ".layers_to_transform: layer " + std::to_string(layer) +
                             " does not exist; the model has " +
                             std::to_string(model.config().layers) + " layers (0-" +
                             std::to_string(model.config().layers - 1) + ")");
    }
  }
  std::vector<LinearModule*> selected;
  std::vector<std::string> names;
  for (LinearModule* m : model.LinearModules()) {
    names.push_back(m->name);
    if (!MatchesTarget(m->name, targets)) continue;
    if (!layers.empty() && std::find(layers.begin(), layers.end(), m->layer) == layers.end()) {
      continue;
    }
    selected.push_back(m);
  }
  if (selected.empty()) {
    std::string some;
    for (size_t i = 0; i < names.size() && i < 7; ++i) some += (i ? ", " : "") + names[i];
    return InvalidArgument(field + ".target_modules: no module of this " +
                           model.config().model_type + " model matches; its linear modules are "
                           "named like " + some);
  }
  return selected;
}

Result<std::unique_ptr<Adapter>> CreateLora(CausalLm& model, const jobs::LoraSpec& spec,
                                            uint64_t seed) {
  jobs::LoraSpec resolved = spec;
  if (resolved.target_modules.empty()) resolved.target_modules = DefaultLoraTargets(model.config());
  LF_ASSIGN_OR_RETURN(
      std::vector<LinearModule*> modules,
      SelectModules(model, resolved.target_modules, resolved.layers_to_transform, "job.lora"));
  auto adapter = std::make_unique<LoraAdapter>(model.config(), resolved);
  torch::manual_seed(seed);
  for (LinearModule* m : modules) adapter->AddModule(*m);
  return std::unique_ptr<Adapter>(std::move(adapter));
}

}  // namespace lf::worker
