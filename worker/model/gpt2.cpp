// GPT-2 (Radford et al. 2019) as Hugging Face's GPT2LMHeadModel computes it: learned position
// embeddings, pre-LayerNorm blocks, fused c_attn, gelu_new MLP, lm_head tied to wte.
#include <cmath>

#include "worker/model/architectures.h"
#include "worker/model/decoder_ops.h"
#include "worker/torch_compat.h"

namespace lf::worker::internal {
namespace {

struct Gpt2Layer {
  torch::Tensor ln1_w, ln1_b, ln2_w, ln2_b;
  LinearModule c_attn, attn_proj, c_fc, mlp_proj;
};

std::string LayerPrefix(int64_t i) { return "transformer.h." + std::to_string(i) + "."; }

class Gpt2Model final : public CausalLm {
 public:
  Gpt2Model(const ModelConfig& config, std::map<std::string, torch::Tensor> w) : config_(config) {
    wte_ = Take(w, "transformer.wte.weight");
    wpe_ = Take(w, "transformer.wpe.weight");
    lnf_w_ = Take(w, "transformer.ln_f.weight");
    lnf_b_ = Take(w, "transformer.ln_f.bias");
    for (int64_t i = 0; i < config.layers; ++i) {
      const std::string p = LayerPrefix(i);
      Gpt2Layer l;
      l.ln1_w = Take(w, p + "ln_1.weight");
      l.ln1_b = Take(w, p + "ln_1.bias");
      l.ln2_w = Take(w, p + "ln_2.weight");
      l.ln2_b = Take(w, p + "ln_2.bias");
      l.c_attn = MakeLinear(w, p + "attn.c_attn", i, true, true);
      l.attn_proj = MakeLinear(w, p + "attn.c_proj", i, true, true);
      l.c_fc = MakeLinear(w, p + "mlp.c_fc", i, true, true);
      l.mlp_proj = MakeLinear(w, p + "mlp.c_proj", i, true, true);
      layers_.push_back(std::move(l));
    }
  }

  const ModelConfig& config() const override { return config_; }

  LmHeadInput ForwardHidden(const torch::Tensor& input_ids,
                            const torch::Tensor& document_ids) override {
    const Prefixes prefixes = BeginForward();
    torch::Tensor h = PrependSoftPrompt(prefixes, torch::embedding(wte_, input_ids));
    const TokenLayout layout = MakeTokenLayout(document_ids, prefixes.prompt_tokens,
                                               prefixes.kv_tokens, h.size(1), h.device());
    const torch::Tensor mask = AttentionMask(layout, 0);
    h = h + torch::embedding(wpe_, layout.positions);
    for (size_t i = 0; i < layers_.size(); ++i) {
      // Captures by value: a checkpointed block runs again in backward.
      h = RunBlock([this, i, mask](const torch::Tensor& x) { return Block(i, x, mask); }, h);
    }
    h = LayerNorm(DropSoftPrompt(prefixes, h), lnf_w_, lnf_b_, config_.norm_eps);
    return {.hidden = h, .weight = wte_};
  }

  std::vector<LinearModule*> LinearModules() override {
    std::vector<LinearModule*> out;
    for (Gpt2Layer& l : layers_) {
      for (LinearModule* m : {&l.c_attn, &l.attn_proj, &l.c_fc, &l.mlp_proj}) out.push_back(m);
    }
    return out;
  }

  std::map<std::string, torch::Tensor> StateDict() const override {
    std::map<std::string, torch::Tensor> out = {{"transformer.wte.weight", wte_},
                                                {"transformer.wpe.weight", wpe_},
                                                {"transformer.ln_f.weight", lnf_w_},
                                                {"transformer.ln_f.bias", lnf_b_}};
    for (size_t i = 0; i < layers_.size(); ++i) {
      const Gpt2Layer& l = layers_[i];
      const std::string p = LayerPrefix(static_cast<int64_t>(i));
      out[p + "ln_1.weight"] = l.ln1_w;
      out[p + "ln_1.bias"] = l.ln1_b;
      out[p + "ln_2.weight"] = l.ln2_w;
      out[p + "ln_2.bias"] = l.ln2_b;
      for (const LinearModule* m : {&l.c_attn, &l.attn_proj, &l.c_fc, &l.mlp_proj}) {
        out[m->name + ".weight"] = StoredWeight(*m);
        out[m->name + ".bias"] = m->bias;
      }
    }
    return out;
  }

  std::vector<torch::Tensor> BaseParameters() override {
    std::vector<torch::Tensor> out = {wte_, wpe_, lnf_w_, lnf_b_};
    for (Gpt2Layer& l : layers_) {
      for (auto* t : {&l.ln1_w, &l.ln1_b, &l.ln2_w, &l.ln2_b}) out.push_back(*t);
      for (LinearModule* m : {&l.c_attn, &l.attn_proj, &l.c_fc, &l.mlp_proj}) {
        out.push_back(m->weight);
        out.push_back(m->bias);
      }
    }
    return out;
  }

 private:
  // Decoder layer i on the residual stream h [batch, tokens, hidden].
  torch::Tensor Block(size_t i, const torch::Tensor& h, const torch::Tensor& mask) const {
    const int64_t b = h.size(0), t = h.size(1);
    const int64_t heads = config_.heads, d = config_.head_dim, width = config_.hidden;
    const Gpt2Layer& l = layers_[i];
    torch::Tensor a = LayerNorm(h, l.ln1_w, l.ln1_b, config_.norm_eps);
    torch::Tensor qkv = ApplyLinear(l.c_attn, a).view({b, t, 3, heads, d});
    torch::Tensor q = qkv.select(2, 0).transpose(1, 2);
    auto [k, v] = WithKvPrefix(static_cast<int64_t>(i), qkv.select(2, 1).transpose(1, 2),
                               qkv.select(2, 2).transpose(1, 2));
    torch::Tensor o = torch_compat::Attention(q, k, v, mask).transpose(1, 2).reshape({b, t, width});
    torch::Tensor out = h + ApplyLinear(l.attn_proj, o);
    torch::Tensor m = LayerNorm(out, l.ln2_w, l.ln2_b, config_.norm_eps);
    return out + ApplyLinear(l.mlp_proj, torch::gelu(ApplyLinear(l.c_fc, m), "tanh"));
  }

  ModelConfig config_;
  torch::Tensor wte_, wpe_, lnf_w_, lnf_b_;
  std::vector<Gpt2Layer> layers_;
};

}  // namespace

std::unique_ptr<CausalLm> BuildGpt2(const ModelConfig& config,
                                    std::map<std::string, torch::Tensor> weights) {
  return std::make_unique<Gpt2Model>(config, std::move(weights));
}

}  // namespace lf::worker::internal
