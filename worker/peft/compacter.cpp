#include "worker/peft/compacter.h"

#include <cmath>

#include "worker/peft/bottleneck_internal.h"

namespace lf::worker {
namespace {

using bottleneck_internal::Projection;

// One PHM projection [in, out] = Σ_i A_i ⊗ (s_i t_i), with its bias.
struct PhmWeights {
  torch::Tensor s;     // [n, in/n, phm_rank]
  torch::Tensor t;     // [n, phm_rank, out/n]
  torch::Tensor bias;  // [out]
};

// Σ_i kron(rule[i], s[i] @ t[i]) -> [in, out]. Built from the factors on every call so autograd
// reaches the shared rules and both factors.
torch::Tensor DensePhm(const torch::Tensor& rule, const PhmWeights& p) {
  const int64_t n = rule.size(0);
  torch::Tensor b = torch::matmul(p.s, p.t);  // [n, in/n, out/n]
  // kron(A, B)[a·rows + b, c·cols + d] = A[a, c] B[b, d] (B's rows, cols), summed over i.
  return torch::einsum("iac,ibd->abcd", {rule, b}).reshape({n * b.size(1), n * b.size(2)});
}

// Glorot (Xavier) uniform for each [rows, cols] slice, as Compacter initialises its factors.
torch::Tensor GlorotUniform(std::vector<int64_t> shape, const torch::TensorOptions& opts) {
  const double rows = static_cast<double>(shape[1]), cols = static_cast<double>(shape[2]);
  const double bound = std::sqrt(6.0 / (rows + cols));
  torch::Tensor t = torch::empty(shape, opts);
  torch::NoGradGuard no_grad;
  t.uniform_(-bound, bound);
  return t;
}

class CompacterAdapter final : public bottleneck_internal::BottleneckAdapterBase {
 public:
  // Draws the shared rules; call after torch::manual_seed.
  CompacterAdapter(jobs::CompacterSpec spec, const torch::TensorOptions& opts)
      : BottleneckAdapterBase(spec), phm_(spec) {
    const int64_t n = phm_.phm_dim;
    // A_i = P^i + N(0, 0.01²), P the cyclic shift: Σ_i P^i ⊗ B_i puts each B_i on its own
    // (wrapped) block diagonal, so every block of an initial projection is filled, where the
    // paper's N(0, 0.01) rules alone would start it near zero. The noise makes the A_i differ.
    std::vector<torch::Tensor> shifts;
    // eye in fp32: LibTorch 1.13's CPU eye has no bf16 kernel.
    for (int64_t i = 0; i < n; ++i) {
      shifts.push_back(torch::eye(n, opts.dtype(torch::kFloat32)).to(opts).roll(i, 1));
    }
    torch::Tensor rules = torch::stack(shifts);
    rule_down_ = AddTensor("phm_rule.down", rules + torch::randn({n, n, n}, opts) * 0.01);
    rule_up_ = AddTensor("phm_rule.up", rules + torch::randn({n, n, n}, opts) * 0.01);
  }

  jobs::Method method() const override { return jobs::Method::kCompacter; }

  void AddModule(const LinearModule& m) {
    auto opts = TrainableOptions(m.weight);
    const int64_t n = phm_.phm_dim, r = phm_.phm_rank, width = m.out_features();
    const int64_t size = phm_.size;
    Weights& w = modules_[m.name];
    const std::string down = m.name + ".adapter_down.", up = m.name + ".adapter_up.";
    w.down.s = AddTensor(down + "phm_s", GlorotUniform({n, width / n, r}, opts));
    w.down.t = AddTensor(down + "phm_t", GlorotUniform({n, r, size / n}, opts));
    w.down.bias = AddTensor(down + "bias", torch::zeros({size}, opts));
    w.up.s = AddTensor(up + "phm_s", GlorotUniform({n, size / n, r}, opts));
    // Zero t makes every s_i t_i, hence the up projection, zero: the adapter starts as the
    // identity, while t's gradient (through s) is not zero.
    w.up.t = AddTensor(up + "phm_t", torch::zeros({n, r, width / n}, opts));
    w.up.bias = AddTensor(up + "bias", torch::zeros({width}, opts));
    targets_.push_back(m.name);
  }

  Json PeftConfig(const std::string& base) const override {
    Json config = bottleneck_internal::ConfigJson("COMPACTER", spec_, base, targets_);
    config["phm_dim"] = phm_.phm_dim;
    config["phm_rank"] = phm_.phm_rank;
    return config;
  }

 protected:
  bool Projections(const std::string& module, Projection* down, Projection* up) override {
    auto it = modules_.find(module);
    if (it == modules_.end()) return false;
    // DensePhm gives [in, out]; torch::linear takes [out, in].
    *down = {DensePhm(rule_down_, it->second.down).t(), it->second.down.bias};
    *up = {DensePhm(rule_up_, it->second.up).t(), it->second.up.bias};
    return true;
  }

  std::string Settings() const override {
    return "size=" + std::to_string(phm_.size) + ", phm_dim=" + std::to_string(phm_.phm_dim) +
           ", phm_rank=" + std::to_string(phm_.phm_rank);
  }

 private:
  struct Weights {
    PhmWeights down;  // [width, size]
    PhmWeights up;    // [size, width]
  };
  jobs::CompacterSpec phm_;
  torch::Tensor rule_down_;  // [n, n, n], shared by every module's down projection
  torch::Tensor rule_up_;    // [n, n, n], shared by every module's up projection
  std::map<std::string, Weights> modules_;
};

Status CheckPhm(const jobs::CompacterSpec& spec, const std::string& field) {
  if (spec.phm_dim < 1) {
    return InvalidArgument(field + ".phm_dim: expected a positive integer, got " +
                           std::to_string(spec.phm_dim));
  }
  if (spec.phm_rank < 1) {
    return InvalidArgument(field + ".phm_rank: expected a positive integer, got " +
                           std::to_string(spec.phm_rank));
  }
  if (spec.size % spec.phm_dim != 0) {
    return InvalidArgument(field + ": size (" + std::to_string(spec.size) +
                           ") must be divisible by phm_dim (" + std::to_string(spec.phm_dim) + ")");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Adapter>> CreateCompacter(CausalLm& model, const jobs::CompacterSpec& spec,
                                                 uint64_t seed) {
  const std::string field = "job.compacter";
  LF_ASSIGN_OR_RETURN(std::vector<LinearModule*> modules,
                      bottleneck_internal::SelectSublayers(model, spec, field));
  LF_RETURN_IF_ERROR(CheckPhm(spec, field));
  for (LinearModule* m : modules) {
    if (m->out_features() % spec.phm_dim != 0) {
      return InvalidArgument(field + ": the hidden size of this " + model.config().model_type +
                             " model (" + std::to_string(m->out_features()) + ", the width of " +
                             m->name + ") must be divisible by phm_dim (" +
                             std::to_string(spec.phm_dim) + ")");
    }
  }
  torch::manual_seed(seed);
  auto adapter =
      std::make_unique<CompacterAdapter>(spec, TrainableOptions(modules.front()->weight));
  for (LinearModule* m : modules) adapter->AddModule(*m);
  return std::unique_ptr<Adapter>(std::move(adapter));
}

Result<jobs::CompacterSpec> CompacterSpecFromConfig(const JsonField& config) {
  LF_RETURN_IF_ERROR(config.CheckKeys({"activation", "after", "base_model_name_or_path", "dropout",
                                       "inference_mode", "peft_type", "phm_dim", "phm_rank",
                                       "scaling", "size", "target_modules", "task_type"}));
  jobs::CompacterSpec spec;
  LF_RETURN_IF_ERROR(bottleneck_internal::ReadSpecFromConfig(config, &spec));
  LF_ASSIGN_OR_RETURN(JsonField phm_dim, config.Required("phm_dim"));
  LF_ASSIGN_OR_RETURN(spec.phm_dim, phm_dim.Int({.min = 1, .max = 64}));
  LF_ASSIGN_OR_RETURN(spec.phm_rank, config.IntAt("phm_rank", {.min = 1, .max = 4096}));
  if (spec.size % spec.phm_dim != 0) {
    return phm_dim.Error("must divide size (" + std::to_string(spec.size) + "), got " +
                         std::to_string(spec.phm_dim));
  }
  return spec;
}

}  // namespace lf::worker
