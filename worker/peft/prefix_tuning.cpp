// Prefix tuning (Li & Liang 2021) as PEFT's PrefixTuningConfig for causal LMs: every decoder
// layer attends to num_virtual_tokens learned keys and values before the sequence, and the real
// tokens' positions start after them. The prefix is one table [num_virtual_tokens, layers * 2 *
// token_dim] (token_dim = kv_heads * head_dim, as PEFT counts it for grouped-query attention),
// laid out as PEFT views it: per token, layer-major, keys before values, then heads. With
// prefix_projection the table is the output of Embedding -> Linear -> tanh -> Linear, computed
// once per forward pass; PEFT saves that output as prompt_embeddings, so StateDict exports it and
// checkpoints keep the encoder itself (TrainingState).
#include "worker/peft/prompt_learning.h"

namespace lf::worker {
namespace {

constexpr const char* kEmbeddingKey = "prompt_encoder.embedding.weight";
constexpr const char* kLayerKeys[] = {"prompt_encoder.transform.0", "prompt_encoder.transform.2"};

int64_t TokenDim(const ModelConfig& c) { return c.kv_heads * c.head_dim; }

class PrefixTuningAdapter final : public Adapter {
 public:
  // `mlp` empty: no projection, or PEFT's inference form; `embedding` is then the prefix table.
  PrefixTuningAdapter(const ModelConfig& config, jobs::PrefixTuningSpec spec,
                      torch::Tensor embedding, std::vector<std::pair<torch::Tensor, torch::Tensor>> mlp)
      : config_(config), spec_(spec), embedding_(std::move(embedding)), mlp_(std::move(mlp)) {
    embedding_.set_requires_grad(true);
  }

  jobs::Method method() const override { return jobs::Method::kPrefixTuning; }

  void BeginForward() override {
    // [p, layers * 2 * kv_heads * head_dim] -> [layers * 2, kv_heads, p, head_dim]
    kv_ = Table()
              .view({spec_.num_virtual_tokens, config_.layers * 2, config_.kv_heads,
                     config_.head_dim})
              .permute({1, 2, 0, 3});
  }
  torch::Tensor KvPrefix(int64_t layer) override { return kv_.slice(0, 2 * layer, 2 * layer + 2); }

  std::vector<torch::Tensor> Parameters() override {
    std::vector<torch::Tensor> out = {embedding_};
    for (const auto& [w, b] : mlp_) {
      out.push_back(w);
      out.push_back(b);
    }
    return out;
  }
  void SetTraining(bool) override {}  // no dropout

  std::map<std::string, torch::Tensor> StateDict() const override {
    torch::NoGradGuard no_grad;
    return {{"prompt_embeddings", Table().detach()}};
  }
  Status LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source) override {
    if (!mlp_.empty()) {
      return InvalidArgument(source + ": an exported prefix holds the projection's output, not "
                             "the projection; it loads only in inference form (LoadAdapter)");
    }
    return internal::LoadPromptEmbeddings(tensors, source, embedding_);
  }

  std::map<std::string, torch::Tensor> TrainingState() const override {
    if (mlp_.empty()) return StateDict();
    std::map<std::string, torch::Tensor> out = {{kEmbeddingKey, embedding_.detach()}};
    for (size_t i = 0; i < mlp_.size(); ++i) {
      out[std::string(kLayerKeys[i]) + ".weight"] = mlp_[i].first.detach();
      out[std::string(kLayerKeys[i]) + ".bias"] = mlp_[i].second.detach();
    }
    return out;
  }
  Status LoadTrainingState(const std::map<std::string, torch::Tensor>& tensors,
                           const std::string& source) override {
    if (mlp_.empty()) return LoadStateDict(tensors, source);
    return internal::CopyNamedTensors(tensors, TrainingState(), source);
  }

  Json PeftConfig(const std::string& base) const override {
    Json j = internal::PromptLearningPeftConfig(config_, "PREFIX_TUNING", spec_.num_virtual_tokens,
                                                TokenDim(config_), base);
    j["encoder_hidden_size"] = spec_.encoder_hidden_size;
    j["init_weights"] = nullptr;
    j["prefix_projection"] = spec_.prefix_projection;
    return j;
  }

  Status MergeInto(CausalLm&) const override { return internal::NotMergeable("prefix tuning"); }

 private:
  torch::Tensor Table() const {
    if (mlp_.empty()) return embedding_;
    torch::Tensor h = torch::tanh(torch::linear(embedding_, mlp_[0].first, mlp_[0].second));
    return torch::linear(h, mlp_[1].first, mlp_[1].second);
  }

  ModelConfig config_;
  jobs::PrefixTuningSpec spec_;
  torch::Tensor embedding_;  // the table, or [p, token_dim] under the projection
  std::vector<std::pair<torch::Tensor, torch::Tensor>> mlp_;  // (weight, bias) x 2 or none
  torch::Tensor kv_;  // this forward pass's [layers * 2, kv_heads, p, head_dim]
};

}  // namespace

Result<std::unique_ptr<Adapter>> CreatePrefixTuning(CausalLm& model,
                                                    const jobs::PrefixTuningSpec& spec,
                                                    uint64_t seed) {
  const ModelConfig& c = model.config();
  jobs::PrefixTuningSpec resolved = spec;
  const int64_t token_dim = TokenDim(c);
  if (resolved.encoder_hidden_size == 0) resolved.encoder_hidden_size = token_dim;  // PEFT's default
  const int64_t table_width = c.layers * 2 * token_dim;
  auto options = TrainableOptions(model.LinearModules().front()->weight);
  torch::manual_seed(seed);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> mlp;
  torch::Tensor embedding;
  if (resolved.prefix_projection) {
    embedding = torch::randn({resolved.num_virtual_tokens, token_dim}, options);
    mlp.push_back(internal::NewLinear(token_dim, resolved.encoder_hidden_size, options));
    mlp.push_back(internal::NewLinear(resolved.encoder_hidden_size, table_width, options));
  } else {
    embedding = torch::randn({resolved.num_virtual_tokens, table_width}, options);  // N(0, 1)
  }
  auto adapter = std::make_unique<PrefixTuningAdapter>(c, resolved, embedding, std::move(mlp));
  return std::unique_ptr<Adapter>(std::move(adapter));
}

namespace internal {

Result<std::unique_ptr<Adapter>> PrefixTuningInferenceForm(CausalLm& model,
                                                           const jobs::PrefixTuningSpec& spec) {
  const ModelConfig& c = model.config();
  auto options = TrainableOptions(model.LinearModules().front()->weight);
  torch::Tensor table = torch::zeros({spec.num_virtual_tokens, c.layers * 2 * TokenDim(c)}, options);
  auto adapter = std::make_unique<PrefixTuningAdapter>(
      c, spec, table, std::vector<std::pair<torch::Tensor, torch::Tensor>>{});
  return std::unique_ptr<Adapter>(std::move(adapter));
}

}  // namespace internal
}  // namespace lf::worker
