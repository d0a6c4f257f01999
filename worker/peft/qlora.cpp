// QLoRA: a LoRA adapter (lora.cpp) over NF4 base weights (kernels/nf4.h). The LoRA part is
// delegated to CreateLora, so training, export, import and merging of A and B are LoRA's own.
#include "worker/peft/qlora.h"

#include <set>

#include "kernels/nf4.h"
#include "kernels/nf4_linear.h"
#include "worker/peft/lora.h"

namespace lf::worker {
namespace {

class QloraAdapter final : public Adapter {
 public:
  QloraAdapter(std::unique_ptr<Adapter> lora, std::map<std::string, kernels::Nf4Tensor> base,
               std::set<std::string> targeted)
      : lora_(std::move(lora)), base_(std::move(base)), targeted_(std::move(targeted)) {}

  jobs::Method method() const override { return jobs::Method::kQlora; }

  bool ComputesBase(const LinearModule& m) const override { return base_.count(m.name) > 0; }

  torch::Tensor Apply(const LinearModule& m, const torch::Tensor& x, torch::Tensor base) override {
    auto it = base_.find(m.name);
    if (it != base_.end()) {
      base = kernels::Nf4Linear(x, it->second,
                                m.bias.defined() ? c10::optional<torch::Tensor>(m.bias)
                                                 : c10::nullopt);
      if (!targeted_.count(m.name)) return base;
      // Nf4Linear's output can be a view made inside its autograd Function, which autograd
      // forbids changing in place; LoRA's Apply adds to `base` in place.
      if (base.is_view()) base = base.clone();
    }
    return lora_->Apply(m, x, std::move(base));
  }

  std::vector<torch::Tensor> Parameters() override { return lora_->Parameters(); }
  void SetTraining(bool training) override { lora_->SetTraining(training); }
  std::map<std::string, torch::Tensor> StateDict() const override { return lora_->StateDict(); }
  Status LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source) override {
    return lora_->LoadStateDict(tensors, source);
  }
  // A QLoRA adapter is a LoRA adapter: PEFT loads it on the full-precision base.
  Json PeftConfig(const std::string& base) const override { return lora_->PeftConfig(base); }

  // The merged model is the dequantised base plus the LoRA update (not the original full-precision
  // weights plus the update: NF4 is lossy). Dense weights come back for every quantised module.
  Status MergeInto(CausalLm& model) const override {
    torch::NoGradGuard no_grad;
    for (LinearModule* m : model.LinearModules()) {
      auto it = base_.find(m->name);
      if (it == base_.end()) continue;
      m->weight = kernels::DequantizeNf4(it->second, m->weight.scalar_type());
    }
    return lora_->MergeInto(model);
  }

  QuantizedBase Footprint() const {
    QuantizedBase out;
    for (const auto& [name, q] : base_) {
      out.bytes += q.bytes();
      out.params += q.numel();
      ++out.modules;
    }
    return out;
  }

 private:
  std::unique_ptr<Adapter> lora_;
  std::map<std::string, kernels::Nf4Tensor> base_;
  std::set<std::string> targeted_;
};

}  // namespace

Result<std::unique_ptr<Adapter>> CreateQlora(CausalLm& model, const jobs::QloraSpec& spec,
                                             uint64_t seed) {
  jobs::LoraSpec lora = spec;
  if (lora.target_modules.empty()) lora.target_modules = DefaultLoraTargets(model.config());
  LF_ASSIGN_OR_RETURN(
      std::vector<LinearModule*> targeted,
      SelectModules(model, lora.target_modules, lora.layers_to_transform, "job.qlora"));
  // Quantise everything before changing anything, so that an error leaves the model intact.
  std::map<std::string, kernels::Nf4Tensor> base;
  const std::vector<LinearModule*> modules = model.LinearModules();
  for (LinearModule* m : modules) {
    if (m->weight.numel() % spec.block_size != 0) {
      return InvalidArgument("job.qlora.block_size: " + m->name + " has " +
                             std::to_string(m->weight.numel()) + " weights, not a multiple of " +
                             std::to_string(spec.block_size) + "; choose a block size dividing it");
    }
    Result<kernels::Nf4Tensor> q = [&]() -> Result<kernels::Nf4Tensor> {
      try {
        torch::NoGradGuard no_grad;
        LF_ASSIGN_OR_RETURN(kernels::Nf4Tensor nf4, kernels::QuantizeNf4(m->weight.detach(),
                                                                          spec.block_size,
                                                                          spec.double_quant));
        return nf4.To(m->weight.device());
      } catch (const c10::Error& e) {
        return Internal(e.what_without_backtrace());
      }
    }();
    if (!q.ok()) return q.status().WithContext("job.qlora: quantising " + m->name);
    base.emplace(m->name, *std::move(q));
  }
  LF_ASSIGN_OR_RETURN(std::unique_ptr<Adapter> inner, CreateLora(model, lora, seed));
  // Free the dense weights: a one-element placeholder keeps each module's shape, dtype and device
  // (what in_features(), out_features() and the LoRA tensors' options read).
  for (LinearModule* m : modules) {
    m->weight = torch::zeros({}, m->weight.options()).expand(m->weight.sizes());
  }
  std::set<std::string> names;
  for (const LinearModule* m : targeted) names.insert(m->name);
  auto adapter = std::make_unique<QloraAdapter>(std::move(inner), std::move(base), names);
  return std::unique_ptr<Adapter>(std::move(adapter));
}

std::optional<QuantizedBase> QuantizedBaseOf(const Adapter& adapter) {
  const auto* qlora = dynamic_cast<const QloraAdapter*>(&adapter);
  if (qlora == nullptr) return std::nullopt;
  return qlora->Footprint();
}

}  // namespace lf::worker
