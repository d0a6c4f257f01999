#include "worker/peft/dora.h"

#include <cmath>

#include "worker/peft/lora.h"

namespace lf::worker {
namespace {

constexpr const char* kKeyPrefix = "base_model.model.";

struct DoraWeights {
  torch::Tensor a;          // [r, in]
  torch::Tensor b;          // [out, r]
  torch::Tensor magnitude;  // [out]
};

const char* const kSuffixes[] = {".lora_A.weight", ".lora_B.weight", ".lora_magnitude_vector"};

class DoraAdapter final : public Adapter {
 public:
  DoraAdapter(const ModelConfig& config, jobs::LoraSpec spec)
      : config_(config), spec_(std::move(spec)), scale_(LoraScale(spec_)) {}

  jobs::Method method() const override { return jobs::Method::kDora; }

  void AddModule(const LinearModule& m) {
    auto opts = TrainableOptions(m.weight);
    DoraWeights w;
    w.a = torch::empty({spec_.r, m.in_features()}, opts);
    const double bound = 1.0 / std::sqrt(static_cast<double>(m.in_features()));  // as LoRA's
    {
      torch::NoGradGuard no_grad;
      w.a.uniform_(-bound, bound);
    }
    w.b = torch::zeros({m.out_features(), spec_.r}, opts);
    // Computed as Apply computes the norm, so that m / ||W|| is exactly 1 before training.
    w.magnitude = WeightNorm(m.weight, w);
    for (torch::Tensor* t : {&w.a, &w.b, &w.magnitude}) t->set_requires_grad(true);
    order_.push_back(m.name);
    modules_[m.name] = std::move(w);
  }

  // PEFT's DoraLinearLayer.forward, added to the base output:
  //   (m/||W+sBA|| - 1) · W x + m/||W+sBA|| · s · B A x
  // with W x taken from `base` less the bias, or recomputed on the dropped-out input in training
  // with dropout (PEFT does the same, so training matches it).
  torch::Tensor Apply(const LinearModule& m, const torch::Tensor& x, torch::Tensor base) override {
    auto it = modules_.find(m.name);
    if (it == modules_.end()) return base;
    const DoraWeights& w = it->second;
    torch::Tensor norm_scale = w.magnitude / WeightNorm(m.weight, w);  // [out]
    torch::Tensor base_result;
    torch::Tensor h = x;
    if (spec_.dropout > 0 && training_) {
      h = torch::dropout(x, spec_.dropout, true);
      base_result = torch::matmul(h, m.weight.t());
    } else {
      base_result = m.bias.defined() ? base - m.bias : base;
    }
    torch::Tensor lora =
        torch::matmul(torch::matmul(h, InDtypeOf(w.a, h).t()), InDtypeOf(w.b, h).t());
    return base + (norm_scale - 1) * base_result + norm_scale * lora * scale_;
  }

  std::vector<torch::Tensor> Parameters() override {
    std::vector<torch::Tensor> out;
    for (const std::string& name : order_) {
      const DoraWeights& w = modules_[name];
      out.insert(out.end(), {w.a, w.b, w.magnitude});
    }
    return out;
  }

  void SetTraining(bool training) override { training_ = training; }

  std::map<std::string, torch::Tensor> StateDict() const override {
    std::map<std::string, torch::Tensor> out;
    for (const auto& [name, w] : modules_) {
      out[kKeyPrefix + name + kSuffixes[0]] = w.a.detach();
      out[kKeyPrefix + name + kSuffixes[1]] = w.b.detach();
      out[kKeyPrefix + name + kSuffixes[2]] = w.magnitude.detach();
    }
    return out;
  }

  Status LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source) override {
    torch::NoGradGuard no_grad;
    size_t used = 0;
    for (auto& [name, w] : modules_) {
      torch::Tensor* targets[] = {&w.a, &w.b, &w.magnitude};
      for (int i = 0; i < 3; ++i) {
        const std::string key = kKeyPrefix + name + kSuffixes[i];
        auto it = tensors.find(key);
        if (it == tensors.end()) return InvalidArgument(source + ": missing tensor '" + key + "'");
        if (it->second.sizes() != targets[i]->sizes()) {
          return InvalidArgument(
              source + ": tensor '" + key + "' has shape " + c10::str(it->second.sizes()) +
              ", expected " + c10::str(targets[i]->sizes()) + " for r=" + std::to_string(spec_.r));
        }
        targets[i]->copy_(it->second);
        ++used;
      }
    }
    if (used != tensors.size()) {
      for (const auto& [key, t] : tensors) {
        bool known = false;
        for (const auto& [name, w] : modules_) {
          for (const char* suffix : kSuffixes) known |= key == kKeyPrefix + name + suffix;
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
    return LoraPeftConfig(config_, spec_, base, /*use_dora=*/true);
  }

  // PEFT's merge: W <- m / ||W + sBA|| · (W + sBA), row by row; the bias stays.
  Status MergeInto(CausalLm& model) const override {
    torch::NoGradGuard no_grad;
    for (LinearModule* m : model.LinearModules()) {
      auto it = modules_.find(m->name);
      if (it == modules_.end()) continue;
      const DoraWeights& w = it->second;
      torch::Tensor factor = (w.magnitude / WeightNorm(m->weight, w)).unsqueeze(1);
      m->weight.add_(torch::matmul(w.b, w.a) * scale_).mul_(factor);
    }
    return Status::Ok();
  }

 private:
  // ||W + s·B·A|| per output row ([out]); our weights are [out, in] for every architecture, so
  // GPT-2's Conv1D needs no transpose here (PEFT transposes it with fan_in_fan_out to the same).
  torch::Tensor WeightNorm(const torch::Tensor& weight, const DoraWeights& w) const {
    torch::NoGradGuard no_grad;
    return (weight + torch::matmul(w.b, w.a) * scale_).norm(2, {1});
  }

  ModelConfig config_;
  jobs::LoraSpec spec_;
  double scale_;
  bool training_ = false;
  std::vector<std::string> order_;
  std::map<std::string, DoraWeights> modules_;
};

}  // namespace

Result<std::unique_ptr<Adapter>> CreateDora(CausalLm& model, const jobs::LoraSpec& spec,
                                            uint64_t seed) {
  jobs::LoraSpec resolved = spec;
  if (resolved.target_modules.empty()) resolved.target_modules = DefaultLoraTargets(model.config());
  LF_ASSIGN_OR_RETURN(
      std::vector<LinearModule*> modules,
      SelectModules(model, resolved.target_modules, resolved.layers_to_transform, "job.dora"));
  auto adapter = std::make_unique<DoraAdapter>(model.config(), resolved);
  torch::manual_seed(seed);
  for (LinearModule* m : modules) adapter->AddModule(*m);
  return std::unique_ptr<Adapter>(std::move(adapter));
}

}  // namespace lf::worker
