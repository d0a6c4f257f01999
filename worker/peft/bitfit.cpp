#include "worker/peft/bitfit.h"

namespace lf::worker {
namespace {

constexpr const char* kKeyPrefix = "base_model.model.";

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class BitfitAdapter final : public Adapter {
 public:
  explicit BitfitAdapter(std::map<std::string, torch::Tensor> biases)
      : biases_(std::move(biases)) {
    for (auto& [name, b] : biases_) b.set_requires_grad(true);
  }

  jobs::Method method() const override { return jobs::Method::kBitfit; }

  // The biases live in the model itself: the base output is already the adapted one.
  torch::Tensor Apply(const LinearModule&, const torch::Tensor&, torch::Tensor base) override {
    return base;
  }

  std::vector<torch::Tensor> Parameters() override {
    std::vector<torch::Tensor> out;
    for (auto& [name, b] : biases_) out.push_back(b);
    return out;
  }

  void SetTraining(bool) override {}  // no dropout

  std::map<std::string, torch::Tensor> StateDict() const override {
    std::map<std::string, torch::Tensor> out;
    for (const auto& [name, b] : biases_) out[kKeyPrefix + name] = b.detach();
    return out;
  }

  Status LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source) override {
    torch::NoGradGuard no_grad;
    for (auto& [name, b] : biases_) {
      const std::string key = kKeyPrefix + name;
      auto it = tensors.find(key);
      if (it == tensors.end()) return InvalidArgument(source + ": missing tensor '" + key + "'");
      if (it->second.sizes() != b.sizes()) {
        return InvalidArgument(source + ": tensor '" + key + "' has shape " +
                               c10::str(it->second.sizes()) + ", the model's bias " +
                               c10::str(b.sizes()) + " (an adapter for another base model?)");
      }
      b.copy_(it->second);
    }
    for (const auto& [key, t] : tensors) {
      if (key.rfind(kKeyPrefix, 0) != 0 || !biases_.count(key.substr(std::string(kKeyPrefix).size()))) {
        return InvalidArgument(source + ": tensor '" + key +
                               "' is not one of the biases listed in bias_names");
      }
    }
    return Status::Ok();
  }

  Json PeftConfig(const std::string& base) const override {
    std::vector<std::string> names;
    for (const auto& [name, b] : biases_) names.push_back(name);
    return {{"base_model_name_or_path", base},
            {"bias_names", names},
            {"inference_mode", true},
            {"peft_type", "BITFIT"},
            {"task_type", "CAUSAL_LM"}};
  }

  // Copies the trained biases into `model` (a no-op for the model they were trained in).
  Status MergeInto(CausalLm& model) const override {
    torch::NoGradGuard no_grad;
    std::map<std::string, torch::Tensor> live = model.StateDict();
    for (const auto& [name, b] : biases_) {
      auto it = live.find(name);
      if (it == live.end() || it->second.sizes() != b.sizes()) {
        return InvalidArgument("merging BitFit biases: the model has no bias '" + name +
                               "' of shape " + c10::str(b.sizes()));
      }
      it->second.copy_(b);
    }
    return Status::Ok();
  }

 private:
  std::map<std::string, torch::Tensor> biases_;  // state-dict name -> the model's live tensor
};

}  // namespace

Result<std::unique_ptr<Adapter>> CreateBitfit(CausalLm& model, const std::string& model_name,
                                              const std::vector<std::string>& bias_names) {
  std::map<std::string, torch::Tensor> live = model.StateDict();
  std::map<std::string, torch::Tensor> biases;
  if (bias_names.empty()) {
    for (auto& [name, t] : live) {
      if (EndsWith(name, ".bias")) biases[name] = t;
    }
    if (biases.empty()) {
      return InvalidArgument(
          "job.method: bitfit trains only bias terms, and the base model " + model_name + " (" +
          model.config().model_type + ") has none (Llama-family linear layers and RMSNorm carry no biases); use "
          "lora, dora, ia3 or full instead");
    }
  } else {
    for (const std::string& name : bias_names) {
      auto it = live.find(name);
      if (it == live.end() || !EndsWith(name, ".bias")) {
        return InvalidArgument("bias_names: the base model " + model_name + " (" +
                               model.config().model_type + ") has no bias named '" + name +
                               "' (an adapter for another base model?)");
      }
      biases[name] = it->second;
    }
  }
  auto adapter = std::make_unique<BitfitAdapter>(std::move(biases));
  return std::unique_ptr<Adapter>(std::move(adapter));
}

}  // namespace lf::worker
