#include "worker/peft/bottleneck.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "worker/peft/bottleneck_internal.h"

namespace lf::worker {
namespace bottleneck_internal {
namespace {

constexpr const char* kActivations[] = {"relu", "gelu", "tanh", "silu"};
constexpr const char* kSublayers[] = {"attention", "feed_forward"};

template <size_t N>
bool OneOf(const std::string& value, const char* const (&allowed)[N]) {
  return std::find(std::begin(allowed), std::end(allowed), value) != std::end(allowed);
}

template <size_t N>
std::string Names(const char* const (&allowed)[N]) {
  std::string out;
  for (const char* a : allowed) out += (out.empty() ? "" : ", ") + std::string(a);
  return out;
}

torch::Tensor Activate(const std::string& activation, const torch::Tensor& x) {
  if (activation == "gelu") return torch::gelu(x);  // exact (erf), as nn.GELU()
  if (activation == "tanh") return torch::tanh(x);
  if (activation == "silu") return torch::silu(x);
  return torch::relu(x);  // SelectSublayers let nothing else through
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The output projection of a sublayer: the last linear map before its residual sum.
std::string OutputProjection(Architecture arch, const std::string& sublayer) {
  if (sublayer == "attention")
    return arch == Architecture::kGpt2 ? ".attn.c_proj" : ".self_attn.o_proj";
  return arch == Architecture::kGpt2 ? ".mlp.c_proj" : ".mlp.down_proj";
}

}  // namespace

Result<std::vector<LinearModule*>> SelectSublayers(CausalLm& model,
                                                   const jobs::BottleneckSpec& spec,
                                                   const std::string& field) {
  if (spec.size < 1) {
    return InvalidArgument(field + ".size: expected a positive integer, got " +
                           std::to_string(spec.size));
  }
  if (!OneOf(spec.activation, kActivations)) {
    return InvalidArgument(field + ".activation: expected one of " + Names(kActivations) +
                           ", got \"" + spec.activation + "\"");
  }
  if (spec.after.empty()) {
    return InvalidArgument(field + ".after: must name attention, feed_forward or both");
  }
  std::vector<std::string> suffixes;
  for (const std::string& sublayer : spec.after) {
    if (!OneOf(sublayer, kSublayers)) {
      return InvalidArgument(field + ".after: expected one of " + Names(kSublayers) + ", got \"" +
                             sublayer + "\"");
    }
    suffixes.push_back(OutputProjection(model.config().arch, sublayer));
  }
  std::vector<LinearModule*> selected;
  for (LinearModule* m : model.LinearModules()) {
    if (std::any_of(suffixes.begin(), suffixes.end(),
                    [&](const std::string& s) { return EndsWith(m->name, s); })) {
      selected.push_back(m);
    }
  }
  if (selected.empty()) {  // a model whose module names LinearModules() does not follow HF's
    return InvalidArgument(field + ".after: this " + model.config().model_type +
                           " model has no module named like *" + suffixes.front());
  }
  return selected;
}

Status ReadSpecFromConfig(const JsonField& f, jobs::BottleneckSpec* spec) {
  LF_ASSIGN_OR_RETURN(spec->size, f.IntAt("size", {.min = 1, .max = 65536}));
  LF_ASSIGN_OR_RETURN(JsonField activation, f.Required("activation"));
  LF_ASSIGN_OR_RETURN(spec->activation, activation.String());
  if (!OneOf(spec->activation, kActivations)) {
    return activation.Error("expected one of " + Names(kActivations) + ", got \"" +
                            spec->activation + "\"");
  }
  LF_ASSIGN_OR_RETURN(JsonField after, f.Required("after"));
  LF_ASSIGN_OR_RETURN(std::vector<JsonField> sublayers, after.Elements());
  if (sublayers.empty()) return after.Error("must name attention, feed_forward or both");
  spec->after.clear();
  for (const JsonField& e : sublayers) {
    LF_ASSIGN_OR_RETURN(std::string sublayer, e.String());
    if (!OneOf(sublayer, kSublayers)) {
      return e.Error("expected one of " + Names(kSublayers) + ", got \"" + sublayer + "\"");
    }
    if (std::find(spec->after.begin(), spec->after.end(), sublayer) != spec->after.end()) {
      return after.Error("names \"" + sublayer + "\" twice");
    }
    spec->after.push_back(sublayer);
  }
  LF_ASSIGN_OR_RETURN(spec->dropout, f.NumberOr("dropout", 0, {.min = 0, .max = 0.999}));
  LF_ASSIGN_OR_RETURN(JsonField scaling, f.Required("scaling"));
  LF_ASSIGN_OR_RETURN(spec->scaling, scaling.PositiveNumber());
  // Informational (the modules `after` selects); the tensor keys are what loading checks.
  if (auto targets = f.Optional("target_modules")) {
    Result<std::vector<std::string>> names = targets->StringList();
    if (!names.ok()) return names.status();
  }
  return Status::Ok();
}

Json ConfigJson(const std::string& peft_type, const jobs::BottleneckSpec& spec,
                const std::string& base, const std::vector<std::string>& target_modules) {
  return {{"activation", spec.activation},    {"after", spec.after},
          {"base_model_name_or_path", base},  {"dropout", spec.dropout},
          {"inference_mode", true},           {"peft_type", peft_type},
          {"scaling", spec.scaling},          {"size", spec.size},
          {"target_modules", target_modules}, {"task_type", "CAUSAL_LM"}};
}

torch::Tensor BottleneckAdapterBase::Apply(const LinearModule& m, const torch::Tensor&,
                                           torch::Tensor base) {
  Projection down, up;
  if (!Projections(m.name, &down, &up)) return base;
  torch::Tensor h = spec_.dropout > 0 ? torch::dropout(base, spec_.dropout, training_) : base;
  h = Activate(spec_.activation,
               torch::linear(h, InDtypeOf(down.weight, h), InDtypeOf(down.bias, h)));
  // Not in place: `base` is the adapter's input, which backward needs.
  return torch::add(base, torch::linear(h, InDtypeOf(up.weight, h), InDtypeOf(up.bias, h)),
                    spec_.scaling);
}

std::vector<torch::Tensor> BottleneckAdapterBase::Parameters() {
  std::vector<torch::Tensor> out;
  for (const auto& [key, t] : tensors_) out.push_back(t);
  return out;
}

std::map<std::string, torch::Tensor> BottleneckAdapterBase::StateDict() const {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [key, t] : tensors_) out[key] = t.detach();
  return out;
}

Status BottleneckAdapterBase::LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                                            const std::string& source) {
  std::set<std::string> known;
  for (const auto& [key, target] : tensors_) {
    known.insert(key);
    auto it = tensors.find(key);
    if (it == tensors.end()) return InvalidArgument(source + ": missing tensor '" + key + "'");
    if (it->second.sizes() != target.sizes()) {
      return InvalidArgument(source + ": tensor '" + key + "' has shape " +
                             c10::str(it->second.sizes()) + ", expected " +
                             c10::str(target.sizes()) + " for " + Settings());
    }
  }
  for (const auto& [key, t] : tensors) {
    if (!known.count(key)) {
      return InvalidArgument(source + ": tensor '" + key +
                             "' does not belong to any targeted module of this model");
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [key, target] : tensors_) target.copy_(tensors.at(key));
  return Status::Ok();
}

Status BottleneckAdapterBase::MergeInto(CausalLm&) const {
  return InvalidArgument(
      "cannot merge a " + std::string(jobs::MethodName(method())) +
      " adapter: it adds a non-linear MLP, up(act(down(h))), to "
      "the sublayer outputs, which no change of the base weights reproduces; load the adapter "
      "folder with the base model instead");
}

torch::Tensor BottleneckAdapterBase::AddTensor(const std::string& key, torch::Tensor t) {
  t.set_requires_grad(true);
  tensors_.emplace_back(kKeyPrefix + key, t);
  return t;
}

}  // namespace bottleneck_internal

namespace {

using bottleneck_internal::Projection;

class BottleneckAdapter final : public bottleneck_internal::BottleneckAdapterBase {
 public:
  using BottleneckAdapterBase::BottleneckAdapterBase;

  jobs::Method method() const override { return jobs::Method::kBottleneck; }

  void AddModule(const LinearModule& m) {
    auto opts = TrainableOptions(m.weight);
    const int64_t width = m.out_features();
    torch::Tensor down = torch::empty({spec_.size, width}, opts);
    // nn.Linear's default for the down projection, U(-1/sqrt(in), 1/sqrt(in)); up and both
    // biases zero, so the adapter starts as the identity.
    const double bound = 1.0 / std::sqrt(static_cast<double>(width));
    {
      torch::NoGradGuard no_grad;
      down.uniform_(-bound, bound);
    }
    Weights& w = modules_[m.name];
    w.down.weight = AddTensor(m.name + ".adapter_down.weight", down);
    w.down.bias = AddTensor(m.name + ".adapter_down.bias", torch::zeros({spec_.size}, opts));
    w.up.weight = AddTensor(m.name + ".adapter_up.weight", torch::zeros({width, spec_.size}, opts));
    w.up.bias = AddTensor(m.name + ".adapter_up.bias", torch::zeros({width}, opts));
    targets_.push_back(m.name);
  }

  Json PeftConfig(const std::string& base) const override {
    return bottleneck_internal::ConfigJson("BOTTLENECK", spec_, base, targets_);
  }

 protected:
  bool Projections(const std::string& module, Projection* down, Projection* up) override {
    auto it = modules_.find(module);
    if (it == modules_.end()) return false;
    *down = it->second.down;
    *up = it->second.up;
    return true;
  }

  std::string Settings() const override { return "size=" + std::to_string(spec_.size); }

 private:
  struct Weights {
    Projection down;  // [size, width]
    Projection up;    // [width, size]
  };
  std::map<std::string, Weights> modules_;
};

}  // namespace

Result<std::unique_ptr<Adapter>> CreateBottleneck(CausalLm& model, const jobs::BottleneckSpec& spec,
                                                  uint64_t seed) {
  LF_ASSIGN_OR_RETURN(std::vector<LinearModule*> modules,
                      bottleneck_internal::SelectSublayers(model, spec, "job.bottleneck"));
  auto adapter = std::make_unique<BottleneckAdapter>(spec);
  torch::manual_seed(seed);
  for (LinearModule* m : modules) adapter->AddModule(*m);
  return std::unique_ptr<Adapter>(std::move(adapter));
}

Result<jobs::BottleneckSpec> BottleneckSpecFromConfig(const JsonField& config) {
  LF_RETURN_IF_ERROR(config.CheckKeys({"activation", "after", "base_model_name_or_path", "dropout",
                                       "inference_mode", "peft_type", "scaling", "size",
                                       "target_modules", "task_type"}));
  jobs::BottleneckSpec spec;
  LF_RETURN_IF_ERROR(bottleneck_internal::ReadSpecFromConfig(config, &spec));
  return spec;
}

}  // namespace lf::worker
