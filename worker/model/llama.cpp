// The Llama family (Llama, Mistral, Qwen2) as Hugging Face computes it: RMSNorm in fp32, rotary
// embeddings (rotate_half over split halves), grouped-query attention, gated SiLU MLP, optional
// q/k/v biases, tied or separate lm_head.
#include <cmath>

#include "worker/model/architectures.h"
#include "worker/torch_compat.h"

namespace lf::worker::internal {
namespace {

struct LlamaLayer {
  torch::Tensor input_norm, post_norm;
  LinearModule q, k, v, o, gate, up, down;
  std::vector<LinearModule*> Linears() { return {&q, &k, &v, &o, &gate, &up, &down}; }
  std::vector<const LinearModule*> Linears() const { return {&q, &k, &v, &o, &gate, &up, &down}; }
};

std::string LayerPrefix(int64_t i) { return "model.layers." + std::to_string(i) + "."; }

torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  torch::Tensor x32 = x.to(torch::kFloat32);
  x32 = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * x32.to(x.scalar_type());
}

torch::Tensor RotateHalf(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

class LlamaModel final : public CausalLm {
 public:
  LlamaModel(const ModelConfig& config, std::map<std::string, torch::Tensor> w) : config_(config) {
    embed_ = Take(w, "model.embed_tokens.weight");
    norm_ = Take(w, "model.norm.weight");
    if (!config.tie_word_embeddings) lm_head_ = Take(w, "lm_head.weight");
    for (int64_t i = 0; i < config.layers; ++i) {
      const std::string p = LayerPrefix(i);
      LlamaLayer l;
      l.input_norm = Take(w, p + "input_layernorm.weight");
      l.post_norm = Take(w, p + "post_attention_layernorm.weight");
      l.q = MakeLinear(w, p + "self_attn.q_proj", i, config.qkv_bias, false);
      l.k = MakeLinear(w, p + "self_attn.k_proj", i, config.qkv_bias, false);
      l.v = MakeLinear(w, p + "self_attn.v_proj", i, config.qkv_bias, false);
      l.o = MakeLinear(w, p + "self_attn.o_proj", i, false, false);
      l.gate = MakeLinear(w, p + "mlp.gate_proj", i, false, false);
      l.up = MakeLinear(w, p + "mlp.up_proj", i, false, false);
      l.down = MakeLinear(w, p + "mlp.down_proj", i, false, false);
      layers_.push_back(std::move(l));
    }
  }

  const ModelConfig& config() const override { return config_; }

  torch::Tensor Forward(const torch::Tensor& input_ids) override {
    const int64_t b = input_ids.size(0);
    const int64_t d = config_.head_dim, hq = config_.heads, hkv = config_.kv_heads;
    const Prefixes prefixes = BeginForward();
    torch::Tensor h = PrependSoftPrompt(prefixes, torch::embedding(embed_, input_ids));
    const int64_t t = h.size(1);
    // Rotary tables in fp32, as Hugging Face computes them, then cast to the compute dtype.
    torch::Tensor inv_freq =
        1.0 / torch::pow(config_.rope_theta,
                         torch::arange(0, d, 2, torch::TensorOptions().dtype(torch::kFloat32)) /
                             static_cast<double>(d));
    torch::Tensor pos = torch::arange(prefixes.kv_tokens, prefixes.kv_tokens + t,
                                      torch::TensorOptions().dtype(torch::kFloat32));
    torch::Tensor freqs = torch::outer(pos, inv_freq);
    torch::Tensor emb = torch::cat({freqs, freqs}, -1);
    torch::Tensor cos = emb.cos().to(embed_.options()), sin = emb.sin().to(embed_.options());

    for (size_t i = 0; i < layers_.size(); ++i) {
      const LlamaLayer& l = layers_[i];
      torch::Tensor a = RmsNorm(h, l.input_norm, config_.norm_eps);
      torch::Tensor q = ApplyLinear(l.q, a).view({b, t, hq, d}).transpose(1, 2);
      torch::Tensor k = ApplyLinear(l.k, a).view({b, t, hkv, d}).transpose(1, 2);
      torch::Tensor v = ApplyLinear(l.v, a).view({b, t, hkv, d}).transpose(1, 2);
      q = q * cos + RotateHalf(q) * sin;
      k = k * cos + RotateHalf(k) * sin;
      std::tie(k, v) = WithKvPrefix(static_cast<int64_t>(i), k, v);
      if (hkv != hq) {  // grouped-query attention: each kv head serves hq / hkv query heads
        k = k.repeat_interleave(hq / hkv, 1);
        v = v.repeat_interleave(hq / hkv, 1);
      }
      torch::Tensor o = torch_compat::CausalAttention(q, k, v).transpose(1, 2).reshape({b, t, hq * d});
      h = h + ApplyLinear(l.o, o);
      torch::Tensor m = RmsNorm(h, l.post_norm, config_.norm_eps);
      h = h + ApplyLinear(l.down, torch::silu(ApplyLinear(l.gate, m)) * ApplyLinear(l.up, m));
    }
    h = RmsNorm(DropSoftPrompt(prefixes, h), norm_, config_.norm_eps);
    return torch::matmul(h, (config_.tie_word_embeddings ? embed_ : lm_head_).t());
  }

  std::vector<LinearModule*> LinearModules() override {
    std::vector<LinearModule*> out;
    for (LlamaLayer& l : layers_) {
      for (LinearModule* m : l.Linears()) out.push_back(m);
    }
    return out;
  }

  std::map<std::string, torch::Tensor> StateDict() const override {
    std::map<std::string, torch::Tensor> out = {{"model.embed_tokens.weight", embed_},
                                                {"model.norm.weight", norm_}};
    if (!config_.tie_word_embeddings) out["lm_head.weight"] = lm_head_;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const LlamaLayer& l = layers_[i];
      const std::string p = LayerPrefix(static_cast<int64_t>(i));
      out[p + "input_layernorm.weight"] = l.input_norm;
      out[p + "post_attention_layernorm.weight"] = l.post_norm;
      for (const LinearModule* m : l.Linears()) {
        out[m->name + ".weight"] = m->weight;
        if (m->bias.defined()) out[m->name + ".bias"] = m->bias;
      }
    }
    return out;
  }

  std::vector<torch::Tensor> BaseParameters() override {
    std::vector<torch::Tensor> out = {embed_, norm_};
    if (lm_head_.defined()) out.push_back(lm_head_);
    for (LlamaLayer& l : layers_) {
      out.push_back(l.input_norm);
      out.push_back(l.post_norm);
      for (LinearModule* m : l.Linears()) {
        out.push_back(m->weight);
        if (m->bias.defined()) out.push_back(m->bias);
      }
    }
    return out;
  }

 private:
  ModelConfig config_;
  torch::Tensor embed_, norm_, lm_head_;
  std::vector<LlamaLayer> layers_;
};

}  // namespace

std::unique_ptr<CausalLm> BuildLlama(const ModelConfig& config,
                                     std::map<std::string, torch::Tensor> weights) {
  return std::make_unique<LlamaModel>(config, std::move(weights));
}

}  // namespace lf::worker::internal
