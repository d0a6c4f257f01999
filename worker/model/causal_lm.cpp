// Loading, creating and saving models; the parts of CausalLm shared by every architecture.
#include "worker/model/causal_lm.h"

#include <cmath>
#include <filesystem>
#include <set>

#include "common/file_util.h"
#include "common/safetensors.h"
#include "worker/model/architectures.h"
#include "worker/model/block_checkpoint.h"
#include "worker/model/tensor_io.h"

namespace lf::worker {
namespace {

namespace fs = std::filesystem;

std::string ShapeString(c10::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// The safetensors files of a model folder: model.safetensors, or the shards an index names.
Result<std::vector<std::string>> WeightFiles(const std::string& dir) {
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(single)) return std::vector<std::string>{single.string()};
  if (!fs::exists(index)) {
    return NotFound("model folder " + dir + " has neither model.safetensors nor "
                    "model.safetensors.index.json (only safetensors weights are read; convert "
                    ".bin checkpoints with transformers' save_pretrained(safe_serialization=True))");
  }
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(index.string(), kMaxSettingsFileBytes));
  LF_ASSIGN_OR_RETURN(Json doc, ParseJson(text, index.string()));
  JsonField root(doc, FieldPath());
  LF_ASSIGN_OR_RETURN(JsonField map, root.Required("weight_map"));
  LF_ASSIGN_OR_RETURN(auto members, map.Members());
  std::set<std::string> files;
  for (const auto& [name, file] : members) {
    Result<std::string> f = file.String();
    if (!f.ok()) return f.status().WithContext(index.string());
    if (f->find('/') != std::string::npos) {
      return InvalidArgument(index.string() + ": weight_map." + name + ": shard '" + *f +
                             "' must be a file name in the model folder");
    }
    files.insert((fs::path(dir) / *f).string());
  }
  if (files.empty()) return InvalidArgument(index.string() + ": weight_map is empty");
  return std::vector<std::string>(files.begin(), files.end());
}

Result<std::unique_ptr<CausalLm>> Build(const ModelConfig& config,
                                        std::map<std::string, torch::Tensor> weights) {
  std::unique_ptr<CausalLm> model = config.arch == Architecture::kGpt2
                                        ? internal::BuildGpt2(config, std::move(weights))
                                        : internal::BuildLlama(config, std::move(weights));
  model->SetBaseTrainable(false);
  return model;
}

}  // namespace

ScopedHook::ScopedHook(CausalLm& model, ModelHook* hook)
    : model_(model), hook_(hook), previous_(model.hook_) {
  model_.hook_ = hook_;
}

ScopedHook::~ScopedHook() {
  LF_CHECK_MSG(model_.hook_ == hook_,
               "a ScopedHook ended while a guard made after it was still alive (guards must end "
               "in reverse order)");
  model_.hook_ = previous_;
}

torch::Tensor CausalLm::ApplyLinear(const LinearModule& m, const torch::Tensor& x) const {
  torch::Tensor out;
  if (hook_ != nullptr && hook_->ComputesBase(m)) {
    out = hook_->Apply(m, x, torch::Tensor());
  } else {
    // A bias may be a trainable fp32 tensor (BitFit) in a bf16 model.
    torch::Tensor base = torch::nn::functional::linear(
        x, m.weight, m.bias.defined() ? InDtypeOf(m.bias, x) : m.bias);
    out = hook_ != nullptr ? hook_->Apply(m, x, std::move(base)) : base;
  }
  // An adapter computing with fp32 tensors may promote the output (DoRA's scale, IA³'s vector);
  // the model computes on in its own dtype.
  return InDtypeOf(out, x);
}

torch::Tensor CausalLm::RunBlock(std::function<torch::Tensor(const torch::Tensor&)> block,
                                 const torch::Tensor& h) const {
  if (!gradient_checkpointing_ || !torch::GradMode::is_enabled()) return block(h);
  return internal::CheckpointBlock(std::move(block), h);
}

CausalLm::Prefixes CausalLm::BeginForward() {
  Prefixes p;
  if (hook_ == nullptr) return p;
  hook_->BeginForward();
  p.soft_prompt = hook_->SoftPrompt();
  if (p.soft_prompt.defined()) {
    LF_CHECK(p.soft_prompt.dim() == 2 && p.soft_prompt.size(1) == config().hidden);
    p.prompt_tokens = p.soft_prompt.size(0);
  }
  if (torch::Tensor kv = hook_->KvPrefix(0); kv.defined()) {
    LF_CHECK(kv.dim() == 4 && kv.size(0) == 2 && kv.size(1) == config().kv_heads &&
             kv.size(3) == config().head_dim);
    p.kv_tokens = kv.size(2);
  }
  return p;
}

int64_t CausalLm::VirtualTokens() {
  Prefixes p = BeginForward();
  return p.prompt_tokens + p.kv_tokens;
}

torch::Tensor CausalLm::PrependSoftPrompt(const Prefixes& p, const torch::Tensor& embeddings) {
  if (p.prompt_tokens == 0) return embeddings;
  torch::Tensor prompt = p.soft_prompt.to(embeddings.scalar_type())
                             .unsqueeze(0)
                             .expand({embeddings.size(0), -1, -1});
  return torch::cat({prompt, embeddings}, 1);
}

std::pair<torch::Tensor, torch::Tensor> CausalLm::WithKvPrefix(int64_t layer, torch::Tensor k,
                                                               torch::Tensor v) const {
  if (hook_ == nullptr) return {std::move(k), std::move(v)};
  torch::Tensor kv = hook_->KvPrefix(layer);
  if (!kv.defined()) return {std::move(k), std::move(v)};
  const int64_t b = k.size(0);
  kv = kv.to(k.scalar_type());
  return {torch::cat({kv[0].unsqueeze(0).expand({b, -1, -1, -1}), k}, 2),
          torch::cat({kv[1].unsqueeze(0).expand({b, -1, -1, -1}), v}, 2)};
}

torch::Tensor CausalLm::DropSoftPrompt(const Prefixes& p, const torch::Tensor& logits) {
  return p.prompt_tokens == 0 ? logits : logits.slice(1, p.prompt_tokens);
}

void CausalLm::SetBaseTrainable(bool trainable) {
  for (torch::Tensor& t : BaseParameters()) {
    t.set_requires_grad(trainable);
    if (!trainable) t.mutable_grad() = torch::Tensor();  // no gradient buffers for a frozen base
  }
}

Status CausalLm::LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                               const std::string& source) {
  torch::NoGradGuard no_grad;
  auto find = [&](const std::string& name) -> Result<torch::Tensor> {
    auto it = tensors.find(name);
    if (it == tensors.end()) return DataLoss(source + ": lacks tensor '" + name + "'");
    return it->second;
  };
  std::set<std::string> linear_names;
  for (LinearModule* m : LinearModules()) {
    LF_ASSIGN_OR_RETURN(torch::Tensor w, find(m->name + ".weight"));
    m->weight.copy_(m->stored_transposed ? w.t() : w);
    linear_names.insert(m->name + ".weight");
    if (m->bias.defined()) {
      LF_ASSIGN_OR_RETURN(torch::Tensor b, find(m->name + ".bias"));
      m->bias.copy_(b);
      linear_names.insert(m->name + ".bias");
    }
  }
  // Every other entry of StateDict() is the live tensor itself.
  for (auto& [name, live] : StateDict()) {
    if (linear_names.count(name)) continue;
    LF_ASSIGN_OR_RETURN(torch::Tensor t, find(name));
    live.copy_(t);
  }
  return Status::Ok();
}

int64_t CausalLm::NumBaseParameters() {
  int64_t n = 0;
  for (const torch::Tensor& t : BaseParameters()) n += t.numel();
  return n;
}

Result<std::unique_ptr<CausalLm>> LoadCausalLm(const std::string& dir, const LoadOptions& options) {
  LF_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(dir));
  LF_ASSIGN_OR_RETURN(std::vector<std::string> files, WeightFiles(dir));
  std::map<std::string, internal::TensorSpec> expected;
  for (auto& spec : internal::ExpectedTensors(config)) expected[spec.name] = spec;

  std::map<std::string, torch::Tensor> weights;
  for (const std::string& path : files) {
    LF_ASSIGN_OR_RETURN(safetensors::File file, safetensors::File::Open(path));
    for (const safetensors::TensorView& view : file.tensors()) {
      const std::string name = internal::CanonicalName(config, view.name);
      if (name.empty()) continue;
      auto spec = expected.find(name);
      if (spec == expected.end()) {
        return InvalidArgument(path + ": tensor '" + view.name + "' is not part of a " +
                               config.model_type + " model with this config.json (" +
                               std::to_string(config.layers) + " layers)");
      }
      if (view.shape != spec->second.shape) {
        return InvalidArgument(path + ": tensor '" + view.name + "' has shape " +
                               ShapeString(view.shape) + " but config.json implies " +
                               ShapeString(spec->second.shape));
      }
      if (view.dtype != safetensors::DType::kF32 && view.dtype != safetensors::DType::kF16 &&
          view.dtype != safetensors::DType::kBF16) {
        return InvalidArgument(path + ": tensor '" + view.name + "' is " +
                               std::string(safetensors::DTypeName(view.dtype)) +
                               "; base weights must be F32, F16 or BF16");
      }
      if (weights.count(name)) {
        return InvalidArgument(path + ": tensor '" + view.name + "' appears twice");
      }
      LF_ASSIGN_OR_RETURN(torch::Tensor t, LoadTensor(file, view.name));
      weights[name] = t.to(options.device, options.dtype);
    }
  }
  for (const auto& [name, spec] : expected) {
    if (!weights.count(name)) {
      return InvalidArgument("model folder " + dir + " lacks tensor '" + name + "' (shape " +
                             ShapeString(spec.shape) + ") that config.json implies");
    }
  }
  return Build(config, std::move(weights));
}

Result<std::unique_ptr<CausalLm>> NewCausalLm(const ModelConfig& config, uint64_t seed,
                                              const LoadOptions& options) {
  torch::manual_seed(seed);
  const double residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(config.layers));
  std::map<std::string, torch::Tensor> weights;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  for (const internal::TensorSpec& spec : internal::ExpectedTensors(config)) {
    torch::Tensor t;
    switch (spec.init) {
      case internal::Init::kNormal: t = torch::randn(spec.shape, f32) * 0.02; break;
      case internal::Init::kResidualNormal: t = torch::randn(spec.shape, f32) * residual_std; break;
      case internal::Init::kZeros: t = torch::zeros(spec.shape, f32); break;
      case internal::Init::kOnes: t = torch::ones(spec.shape, f32); break;
    }
    weights[spec.name] = t.to(options.device, options.dtype);
  }
  return Build(config, std::move(weights));
}

Status SaveCausalLm(const CausalLm& model, const std::string& dir) {
  std::map<std::string, torch::Tensor> tensors = model.StateDict();
  ModelConfig config = model.config();
  // config.json states the dtype the weights are written in (the compute dtype).
  const torch::ScalarType dtype = tensors.begin()->second.scalar_type();
  if (dtype == torch::kFloat32) config.torch_dtype = "float32";
  if (dtype == torch::kBFloat16) config.torch_dtype = "bfloat16";
  if (dtype == torch::kFloat16) config.torch_dtype = "float16";
  LF_RETURN_IF_ERROR(CreateDirectories(dir));
  LF_RETURN_IF_ERROR(WriteFileAtomically((fs::path(dir) / "config.json").string(),
                                         ModelConfigToJson(config).dump(2) + "\n"));
  return SaveTensors(tensors, (fs::path(dir) / "model.safetensors").string());
}

namespace {
torch::Tensor CrossEntropy(const torch::Tensor& logits, const torch::Tensor& labels,
                           torch::nn::functional::CrossEntropyFuncOptions::reduction_t reduction) {
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32), labels.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(reduction));
}
}  // namespace

torch::Tensor CausalLmLoss(const torch::Tensor& logits, const torch::Tensor& labels) {
  return CrossEntropy(logits, labels, torch::kMean);
}

torch::Tensor CausalLmLossSum(const torch::Tensor& logits, const torch::Tensor& labels) {
  return CrossEntropy(logits, labels, torch::kSum);
}

}  // namespace lf::worker
