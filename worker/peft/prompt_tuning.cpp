// Prompt tuning (Lester et al. 2021) as PEFT's PromptTuningConfig for causal LMs: one learned
// embedding per virtual token, placed before every sequence; the only trainable tensor is the
// one PEFT saves as prompt_embeddings [num_virtual_tokens, hidden].
#include "worker/peft/prompt_learning.h"

namespace lf::worker {
namespace {

torch::Tensor TokenEmbeddings(const CausalLm& model) {
  const bool gpt2 = model.config().arch == Architecture::kGpt2;
  return model.StateDict().at(gpt2 ? "transformer.wte.weight" : "model.embed_tokens.weight");
}

class PromptTuningAdapter final : public Adapter {
 public:
  PromptTuningAdapter(const ModelConfig& config, jobs::PromptTuningSpec spec, torch::Tensor prompt)
      : config_(config), spec_(std::move(spec)), prompt_(std::move(prompt)) {
    prompt_.set_requires_grad(true);
  }

  jobs::Method method() const override { return jobs::Method::kPromptTuning; }
  torch::Tensor SoftPrompt() override { return prompt_; }
  std::vector<torch::Tensor> Parameters() override { return {prompt_}; }
  void SetTraining(bool) override {}  // no dropout

  std::map<std::string, torch::Tensor> StateDict() const override {
    return {{"prompt_embeddings", prompt_.detach()}};
  }
  Status LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source) override {
    return internal::LoadPromptEmbeddings(tensors, source, prompt_);
  }

  Json PeftConfig(const std::string& base) const override {
    Json j = internal::PromptLearningPeftConfig(config_, "PROMPT_TUNING", spec_.num_virtual_tokens,
                                                config_.hidden, base);
    j["prompt_tuning_init"] = spec_.init == "sample_vocab" ? "SAMPLE_VOCAB" : "RANDOM";
    j["prompt_tuning_init_text"] = nullptr;
    j["tokenizer_kwargs"] = nullptr;
    j["tokenizer_name_or_path"] = nullptr;
    return j;
  }

  Status MergeInto(CausalLm&) const override { return internal::NotMergeable("prompt tuning"); }

 private:
  ModelConfig config_;
  jobs::PromptTuningSpec spec_;
  torch::Tensor prompt_;  // [num_virtual_tokens, hidden]
};

}  // namespace

Result<std::unique_ptr<Adapter>> CreatePromptTuning(CausalLm& model,
                                                    const jobs::PromptTuningSpec& spec,
                                                    uint64_t seed) {
  torch::Tensor embeddings = TokenEmbeddings(model);
  torch::manual_seed(seed);
  torch::Tensor prompt;
  if (spec.init == "sample_vocab") {  // PEFT's SAMPLE_VOCAB: rows of randomly drawn tokens
    torch::Tensor ids = torch::randint(model.config().vocab_size, {spec.num_virtual_tokens},
                                       torch::TensorOptions().dtype(torch::kInt64));
    prompt = embeddings.detach().index_select(0, ids.to(embeddings.device())).clone();
    if (model.config().arch == Architecture::kGemma) {  // PEFT embeds them, and Gemma scales
      prompt = prompt * torch::scalar_tensor(std::sqrt(static_cast<double>(model.config().hidden)),
                                             prompt.options());
    }
  } else if (spec.init == "random") {  // PEFT's RANDOM: nn.Embedding's N(0, 1)
    prompt = torch::randn({spec.num_virtual_tokens, model.config().hidden},
                          TrainableOptions(embeddings));
  } else {
    return InvalidArgument("job.prompt_tuning.init: expected random or sample_vocab, got \"" +
                           spec.init + "\"");
  }
  auto adapter = std::make_unique<PromptTuningAdapter>(model.config(), spec,
                                                       prompt.detach().to(torch::kFloat32));
  return std::unique_ptr<Adapter>(std::move(adapter));
}

}  // namespace lf::worker
