#include "worker/peft/lora.h"

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
    scale_ = spec_.rslora ? spec_.alpha / std::sqrt(static_cast<double>(spec_.r))
                          : spec_.alpha / static_cast<double>(spec_.r);
  }

  std::string method() const override { return "lora"; }

  void AddModule(const LinearModule& m) {
    auto opts = m.weight.options();
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
    torch::Tensor delta = torch::matmul(torch::matmul(h, it->second.a.t()), it->second.b.t());
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
    std::vector<std::string> targets = spec_.target_modules;
    Json layers = spec_.layers_to_transform.empty() ? Json(nullptr) : Json(spec_.layers_to_transform);
    return {{"alpha_pattern", Json::object()},
            {"auto_mapping", nullptr},
            {"base_model_name_or_path", base},
            {"bias", "none"},
            {"fan_in_fan_out", config_.arch == Architecture::kGpt2},
            {"inference_mode", true},
            {"init_lora_weights", true},
            {"layers_pattern", nullptr},
            {"layers_to_transform", layers},
            {"lora_alpha", spec_.alpha},
            {"lora_dropout", spec_.dropout},
            {"modules_to_save", nullptr},
            {"peft_type", "LORA"},
            {"r", spec_.r},
            {"rank_pattern", Json::object()},
            {"revision", nullptr},
            {"target_modules", targets},
            {"task_type", "CAUSAL_LM"},
            {"use_dora", false},
            {"use_rslora", spec_.rslora}};
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

 private:
  ModelConfig config_;
  jobs::LoraSpec spec_;
  double scale_ = 1.0;
  bool training_ = false;
  std::vector<std::string> order_;
  std::map<std::string, LoraWeights> modules_;
};

}  // namespace

std::vector<std::string> DefaultLoraTargets(const ModelConfig& config) {
  if (config.arch == Architecture::kGpt2) return {"c_attn"};
  return {"q_proj", "v_proj"};
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

Result<std::unique_ptr<Adapter>> CreateLora(CausalLm& model, const jobs::LoraSpec& spec,
                                            uint64_t seed) {
  jobs::LoraSpec resolved = spec;
  if (resolved.target_modules.empty()) resolved.target_modules = DefaultLoraTargets(model.config());
  for (int64_t layer : resolved.layers_to_transform) {
    if (layer >= model.config().layers) {
      return InvalidArgument("job.lora.layers_to_transform: layer " + std::to_string(layer) +
                             " does not exist; the model has " +
                             std::to_string(model.config().layers) + " layers (0-" +
                             std::to_string(model.config().layers - 1) + ")");
    }
  }
  auto adapter = std::make_unique<LoraAdapter>(model.config(), resolved);
  torch::manual_seed(seed);
  std::vector<std::string> names;
  for (LinearModule* m : model.LinearModules()) {
    names.push_back(m->name);
    if (!MatchesTarget(m->name, resolved.target_modules)) continue;
    const auto& layers = resolved.layers_to_transform;
    if (!layers.empty() && std::find(layers.begin(), layers.end(), m->layer) == layers.end()) {
      continue;
    }
    adapter->AddModule(*m);
  }
  if (adapter->Parameters().empty()) {
    std::string some;
    for (size_t i = 0; i < names.size() && i < 7; ++i) some += (i ? ", " : "") + names[i];
    return InvalidArgument("job.lora.target_modules: no module of this " +
                           model.config().model_type + " model matches; its linear modules are "
                           "named like " + some);
  }
  model.SetLinearHook(adapter.get());
  return std::unique_ptr<Adapter>(std::move(adapter));
}

}  // namespace lf::worker
