// What bottleneck adapters and Compacter share, so compacter.cpp does not copy bottleneck.cpp:
// where the adapters go (`after`), the residual MLP around a module's output, the flat list of
// named tensors behind StateDict/LoadStateDict, and the config fields both folders carry. The
// methods differ only in how a module's dense down and up weights are made (Projections).
// Internal to worker/peft: defined in bottleneck.cpp.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "worker/peft/adapter.h"

namespace lf::worker::bottleneck_internal {

inline constexpr const char* kKeyPrefix = "base_model.model.";

// The output projections `after` names, in model order (GPT-2 attn.c_proj / mlp.c_proj, Llama
// self_attn.o_proj / mlp.down_proj). Errors name `field` ("job.bottleneck"): an activation or
// sublayer name this version does not know, a size below 1.
Result<std::vector<LinearModule*>> SelectSublayers(CausalLm& model,
                                                   const jobs::BottleneckSpec& spec,
                                                   const std::string& field);

// The settings both config files carry (size, activation, after, dropout, scaling); the caller
// checks for unknown keys.
Status ReadSpecFromConfig(const JsonField& config, jobs::BottleneckSpec* spec);
// adapter_config.json without the method's own fields.
Json ConfigJson(const std::string& peft_type, const jobs::BottleneckSpec& spec,
                const std::string& base_model_name_or_path,
                const std::vector<std::string>& target_modules);

struct Projection {
  torch::Tensor weight;  // [out, in], as torch::linear takes it
  torch::Tensor bias;    // [out]
};

class BottleneckAdapterBase : public Adapter {
 public:
  explicit BottleneckAdapterBase(jobs::BottleneckSpec spec) : spec_(std::move(spec)) {}

  // base + scaling · up(act(down(dropout(base)))) for the adapted modules, base otherwise.
  torch::Tensor Apply(const LinearModule& m, const torch::Tensor& x, torch::Tensor base) override;
  std::vector<torch::Tensor> Parameters() override;
  void SetTraining(bool training) override { training_ = training; }
  std::map<std::string, torch::Tensor> StateDict() const override;
  // Every tensor required with its shape and no other key; nothing changes unless all fit.
  Status LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source) override;
  Status MergeInto(CausalLm& model) const override;

 protected:
  // The dense down [size, width] and up [width, size] projections of `module`; false when the
  // module is not adapted.
  virtual bool Projections(const std::string& module, Projection* down, Projection* up) = 0;
  // Shown after a shape mismatch: "size=64", "size=64, phm_dim=4, phm_rank=1".
  virtual std::string Settings() const = 0;
  // A trainable tensor under its state-dict key (without kKeyPrefix); Parameters() keeps this
  // order.
  torch::Tensor AddTensor(const std::string& key, torch::Tensor t);

  jobs::BottleneckSpec spec_;
  std::vector<std::string> targets_;  // adapted modules, model order

 private:
  bool training_ = false;
  std::vector<std::pair<std::string, torch::Tensor>> tensors_;  // full key -> live tensor
};

}  // namespace lf::worker::bottleneck_internal
