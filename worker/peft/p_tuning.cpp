// P-tuning (Liu et al. 2021) as PEFT's PromptEncoderConfig with its MLP encoder, for causal LMs:
// virtual token embeddings [num_virtual_tokens, hidden] pass through Linear -> ReLU -> Linear ->
// ReLU -> Linear (encoder_hidden_size wide) and the result is placed before every sequence. The
// encoder runs once per forward pass (BeginForward). PEFT saves the encoder's output as
// prompt_embeddings, so that is what StateDict exports; checkpoints keep the embedding and the
// encoder (TrainingState) so a resumed run trains on through the same encoder.
#include "worker/peft/prompt_learning.h"

namespace lf::worker {
namespace {

struct Linear {
  torch::Tensor w, b;
};

// PEFT's module names, used as checkpoint keys: prompt_encoder.embedding.weight,
// prompt_encoder.mlp_head.{0,2,4}.{weight,bias}.
const char* const kLayerKeys[] = {"prompt_encoder.mlp_head.0", "prompt_encoder.mlp_head.2",
                                  "prompt_encoder.mlp_head.4"};
constexpr const char* kEmbeddingKey = "prompt_encoder.embedding.weight";

class PTuningAdapter final : public Adapter {
 public:
  // `mlp` empty: PEFT's inference form (the embedding is the encoder's output).
  PTuningAdapter(const ModelConfig& config, jobs::PTuningSpec spec, torch::Tensor embedding,
                 std::vector<Linear> mlp)
      : config_(config), spec_(spec), embedding_(std::move(embedding)), mlp_(std::move(mlp)) {
    embedding_.set_requires_grad(true);
  }

  jobs::Method method() const override { return jobs::Method::kPTuning; }

  void BeginForward() override { prompt_ = Encode(); }
  torch::Tensor SoftPrompt() override { return prompt_; }

  std::vector<torch::Tensor> Parameters() override {
    std::vector<torch::Tensor> out = {embedding_};
    for (const Linear& l : mlp_) {
      out.push_back(l.w);
      out.push_back(l.b);
    }
    return out;
  }
  void SetTraining(bool) override {}  // PEFT's MLP encoder has no dropout

  std::map<std::string, torch::Tensor> StateDict() const override {
    torch::NoGradGuard no_grad;
    return {{"prompt_embeddings", Encode().detach()}};
  }
  Status LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source) override {
    if (!mlp_.empty()) {
      return InvalidArgument(source + ": an exported P-tuning adapter holds the encoder's output, "
                             "not the encoder; it loads only in inference form (LoadAdapter)");
    }
    return internal::LoadPromptEmbeddings(tensors, source, embedding_);
  }

  std::map<std::string, torch::Tensor> TrainingState() const override {
    std::map<std::string, torch::Tensor> out = {{kEmbeddingKey, embedding_.detach()}};
    for (size_t i = 0; i < mlp_.size(); ++i) {
      out[std::string(kLayerKeys[i]) + ".weight"] = mlp_[i].w.detach();
      out[std::string(kLayerKeys[i]) + ".bias"] = mlp_[i].b.detach();
    }
    return out;
  }
  Status LoadTrainingState(const std::map<std::string, torch::Tensor>& tensors,
                           const std::string& source) override {
    return internal::CopyNamedTensors(tensors, TrainingState(), source);
  }

  Json PeftConfig(const std::string& base) const override {
    Json j = internal::PromptLearningPeftConfig(config_, "P_TUNING", spec_.num_virtual_tokens,
                                                config_.hidden, base);
    j["encoder_dropout"] = 0.0;
    j["encoder_hidden_size"] = spec_.encoder_hidden_size;
    j["encoder_num_layers"] = 2;
    j["encoder_reparameterization_type"] = "MLP";
    return j;
  }

  Status MergeInto(CausalLm&) const override { return internal::NotMergeable("P-tuning"); }

 private:
  torch::Tensor Encode() const {
    torch::Tensor h = embedding_;
    for (size_t i = 0; i < mlp_.size(); ++i) {
      h = torch::linear(h, mlp_[i].w, mlp_[i].b);
      if (i + 1 < mlp_.size()) h = torch::relu(h);
    }
    return h;
  }

  ModelConfig config_;
  jobs::PTuningSpec spec_;
  torch::Tensor embedding_;  // [num_virtual_tokens, hidden]
  std::vector<Linear> mlp_;  // hidden -> encoder_hidden_size -> encoder_hidden_size -> hidden
  torch::Tensor prompt_;     // this forward pass's encoder output
};

}  // namespace

Result<std::unique_ptr<Adapter>> CreatePTuning(CausalLm& model, const jobs::PTuningSpec& spec,
                                               uint64_t seed) {
  jobs::PTuningSpec resolved = spec;
  const int64_t hidden = model.config().hidden;
  if (resolved.encoder_hidden_size == 0) resolved.encoder_hidden_size = hidden;  // PEFT's default
  auto options = TrainableOptions(model.LinearModules().front()->weight);
  torch::manual_seed(seed);
  torch::Tensor embedding = torch::randn({resolved.num_virtual_tokens, hidden}, options);
  const int64_t e = resolved.encoder_hidden_size;
  std::vector<Linear> mlp;
  for (auto [in, out] : {std::pair{hidden, e}, {e, e}, {e, hidden}}) {
    auto [w, b] = internal::NewLinear(in, out, options);
    mlp.push_back({w, b});
  }
  auto adapter =
      std::make_unique<PTuningAdapter>(model.config(), resolved, embedding, std::move(mlp));
  return std::unique_ptr<Adapter>(std::move(adapter));
}

namespace internal {

Result<std::unique_ptr<Adapter>> PTuningInferenceForm(CausalLm& model,
                                                      const jobs::PTuningSpec& spec) {
  auto options = TrainableOptions(model.LinearModules().front()->weight);
  torch::Tensor embedding = torch::zeros({spec.num_virtual_tokens, model.config().hidden}, options);
  auto adapter = std::make_unique<PTuningAdapter>(model.config(), spec, embedding,
                                                  std::vector<Linear>{});
  return std::unique_ptr<Adapter>(std::move(adapter));
}

}  // namespace internal
}  // namespace lf::worker
