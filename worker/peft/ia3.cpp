#include "worker/peft/ia3.h"

#include <algorithm>

#include "worker/peft/lora.h"

namespace lf::worker {
namespace {

constexpr const char* kKeyPrefix = "base_model.model.";
constexpr const char* kSuffix = ".ia3_l";

struct Ia3Vector {
  torch::Tensor l;  // [out, 1], or [1, in] for a feed-forward module
  bool feedforward = false;
};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class Ia3Adapter final : public Adapter {
 public:
  Ia3Adapter(const ModelConfig& config, jobs::Ia3Spec spec)
      : config_(config), spec_(std::move(spec)) {}

  jobs::Method method() const override { return jobs::Method::kIa3; }

  void AddModule(const LinearModule& m) {
    Ia3Vector v;
    v.feedforward = std::any_of(spec_.feedforward_modules.begin(), spec_.feedforward_modules.end(),
                                [&](const std::string& ff) { return EndsWith(m.name, ff); });
    v.l = v.feedforward ? torch::ones({1, m.in_features()}, TrainableOptions(m.weight))
                        : torch::ones({m.out_features(), 1}, TrainableOptions(m.weight));
    v.l.set_requires_grad(true);
    order_.push_back(m.name);
    modules_[m.name] = std::move(v);
  }

  torch::Tensor Apply(const LinearModule& m, const torch::Tensor& x, torch::Tensor base) override {
    auto it = modules_.find(m.name);
    if (it == modules_.end()) return base;
    torch::Tensor l = InDtypeOf(it->second.l.flatten(), x);
    // The input scaling needs the product recomputed; `base` is dropped.
    if (it->second.feedforward) return torch::linear(x * l, m.weight, m.bias);
    return base * l;
  }

  std::vector<torch::Tensor> Parameters() override {
    std::vector<torch::Tensor> out;
    for (const std::string& name : order_) out.push_back(modules_[name].l);
    return out;
  }

  void SetTraining(bool) override {}  // IA³ has no dropout

  std::map<std::string, torch::Tensor> StateDict() const override {
    std::map<std::string, torch::Tensor> out;
    for (const auto& [name, v] : modules_) out[kKeyPrefix + name + kSuffix] = v.l.detach();
    return out;
  }

  Status LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source) override {
    torch::NoGradGuard no_grad;
    for (auto& [name, v] : modules_) {
      const std::string key = kKeyPrefix + name + kSuffix;
      auto it = tensors.find(key);
      if (it == tensors.end()) return InvalidArgument(source + ": missing tensor '" + key + "'");
      if (it->second.sizes() != v.l.sizes()) {
        return InvalidArgument(source + ": tensor '" + key + "' has shape " +
                               c10::str(it->second.sizes()) + ", expected " +
                               c10::str(v.l.sizes()) + " (the module is " +
                               (v.feedforward ? "" : "not ") + "in feedforward_modules)");
      }
      v.l.copy_(it->second);
    }
    for (const auto& [key, t] : tensors) {
      bool known = false;
      for (const auto& [name, v] : modules_) known |= key == kKeyPrefix + name + kSuffix;
      if (!known) {
        return InvalidArgument(source + ": tensor '" + key +
                               "' does not belong to any targeted module of this model");
      }
    }
    return Status::Ok();
  }

  Json PeftConfig(const std::string& base) const override {
    return {{"auto_mapping", nullptr},
            {"base_model_name_or_path", base},
            {"exclude_modules", nullptr},
            {"fan_in_fan_out", config_.arch == Architecture::kGpt2},
            {"feedforward_modules", spec_.feedforward_modules},
            {"inference_mode", true},
            {"init_ia3_weights", true},
            {"modules_to_save", nullptr},
            {"peft_type", "IA3"},
            {"revision", nullptr},
            {"target_modules", spec_.target_modules},
            {"task_type", "CAUSAL_LM"}};
  }

  // PEFT's merge: the weight's columns (feed-forward) or rows and bias (otherwise) scaled by l.
  Status MergeInto(CausalLm& model) const override {
    torch::NoGradGuard no_grad;
    for (LinearModule* m : model.LinearModules()) {
      auto it = modules_.find(m->name);
      if (it == modules_.end()) continue;
      const Ia3Vector& v = it->second;
      m->weight.mul_(v.l);  // [out, in] * [1, in] or [out, 1]
      if (!v.feedforward && m->bias.defined()) m->bias.mul_(v.l.flatten());
    }
    return Status::Ok();
  }

 private:
  ModelConfig config_;
  jobs::Ia3Spec spec_;
  std::vector<std::string> order_;
  std::map<std::string, Ia3Vector> modules_;
};

}  // namespace

jobs::Ia3Spec DefaultIa3Modules(const ModelConfig& config) {
  if (config.arch == Architecture::kGpt2) return {{"c_attn", "mlp.c_proj"}, {"mlp.c_proj"}};
  if (config.model_type == "phi3")
    return {{"qkv_proj", "down_proj"}, {"down_proj"}};  // no PEFT default
  if (config.model_type == "llama" || config.model_type == "mistral") {
    return {{"k_proj", "v_proj", "down_proj"}, {"down_proj"}};
  }
  return {{"q_proj", "v_proj", "down_proj"}, {"down_proj"}};  // qwen2, qwen3, gemma2, gemma3_text
}

Result<std::unique_ptr<Adapter>> CreateIa3(CausalLm& model, const jobs::Ia3Spec& spec,
                                           bool resolve_defaults) {
  jobs::Ia3Spec resolved = spec;
  // As PEFT: each list left out takes the architecture's default on its own.
  jobs::Ia3Spec defaults = DefaultIa3Modules(model.config());
  if (resolve_defaults && resolved.target_modules.empty()) {
    resolved.target_modules = defaults.target_modules;
  }
  if (resolve_defaults && resolved.feedforward_modules.empty()) {
    resolved.feedforward_modules = defaults.feedforward_modules;
  }
  LF_ASSIGN_OR_RETURN(std::vector<LinearModule*> modules,
                      SelectModules(model, resolved.target_modules, {}, "job.ia3"));
  auto adapter = std::make_unique<Ia3Adapter>(model.config(), resolved);
  for (LinearModule* m : modules) adapter->AddModule(*m);
  return std::unique_ptr<Adapter>(std::move(adapter));
}

}  // namespace lf::worker
