// The Llama family (Llama, Mistral, Qwen2, Qwen3, Phi-3) and Gemma 2 / Gemma 3 text as Hugging Face
// computes them: RMSNorm in fp32, rotary embeddings (rotate_half over split halves, possibly
// partial and scaled), grouped-query attention with optional sliding windows, gated MLP, optional
// q/k/v biases, tied or separate lm_head. Qwen3 and Gemma 3 normalise each head of q and k before
// rotation; Phi-3 fuses q/k/v and gate/up into single modules (kept whole, as PEFT targets them);
// Gemma scales embeddings by sqrt(hidden), uses (1 + w) norms around both sublayers, GeGLU, its
// own attention scale and tanh soft-capping.
#include <cmath>

#include "worker/model/architectures.h"
#include "worker/model/decoder_ops.h"
#include "worker/torch_compat.h"

namespace lf::worker::internal {
namespace {

struct DecoderLayer {
  torch::Tensor input_norm, post_attn_norm;
  torch::Tensor pre_ffn_norm, post_ffn_norm;  // Gemma
  torch::Tensor q_norm, k_norm;               // Qwen3, Gemma 3
  // Phi-3: q is self_attn.qkv_proj and gate is mlp.gate_up_proj; k, v and up stay empty.
  LinearModule q, k, v, o, gate, up, down;

  // In the order Hugging Face registers the modules (Phi-3 registers o_proj before qkv_proj).
  template <typename Self>
  static auto LinearsOf(Self& l, bool fused) {
    using Ptr = decltype(&l.q);
    return fused ? std::vector<Ptr>{&l.o, &l.q, &l.gate, &l.down}
                 : std::vector<Ptr>{&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down};
  }
  template <typename Self>
  static auto NormsOf(Self& l) {
    using Ptr = decltype(&l.input_norm);
    std::vector<std::pair<std::string, Ptr>> out = {
        {"input_layernorm", &l.input_norm},
        {"post_attention_layernorm", &l.post_attn_norm},
        {"pre_feedforward_layernorm", &l.pre_ffn_norm},
        {"post_feedforward_layernorm", &l.post_ffn_norm},
        {"self_attn.q_norm", &l.q_norm},
        {"self_attn.k_norm", &l.k_norm}};
    std::erase_if(out, [](const auto& n) { return !n.second->defined(); });
    return out;
  }
};

std::string LayerPrefix(int64_t i) { return "model.layers." + std::to_string(i) + "."; }

class DecoderModel final : public CausalLm {
 public:
  DecoderModel(const ModelConfig& config, std::map<std::string, torch::Tensor> w)
      : config_(config), gemma_(config.arch == Architecture::kGemma) {
    embed_ = Take(w, "model.embed_tokens.weight");
    norm_ = Take(w, "model.norm.weight");
    if (!config.tie_word_embeddings) lm_head_ = Take(w, "lm_head.weight");
    for (int64_t i = 0; i < config.layers; ++i) {
      const std::string p = LayerPrefix(i);
      DecoderLayer l;
      l.input_norm = Take(w, p + "input_layernorm.weight");
      l.post_attn_norm = Take(w, p + "post_attention_layernorm.weight");
      if (gemma_) {
        l.pre_ffn_norm = Take(w, p + "pre_feedforward_layernorm.weight");
        l.post_ffn_norm = Take(w, p + "post_feedforward_layernorm.weight");
      }
      if (config.qk_norm) {
        l.q_norm = Take(w, p + "self_attn.q_norm.weight");
        l.k_norm = Take(w, p + "self_attn.k_norm.weight");
      }
      if (config.fused_projections) {
        l.q = MakeLinear(w, p + "self_attn.qkv_proj", i, false, false);
        l.gate = MakeLinear(w, p + "mlp.gate_up_proj", i, false, false);
      } else {
        l.q = MakeLinear(w, p + "self_attn.q_proj", i, config.qkv_bias, false);
        l.k = MakeLinear(w, p + "self_attn.k_proj", i, config.qkv_bias, false);
        l.v = MakeLinear(w, p + "self_attn.v_proj", i, config.qkv_bias, false);
        l.gate = MakeLinear(w, p + "mlp.gate_proj", i, false, false);
        l.up = MakeLinear(w, p + "mlp.up_proj", i, false, false);
      }
      l.o = MakeLinear(w, p + "self_attn.o_proj", i, config.o_bias, false);
      l.down = MakeLinear(w, p + "mlp.down_proj", i, false, false);
      layers_.push_back(std::move(l));
    }
  }

  const ModelConfig& config() const override { return config_; }

  LmHeadInput ForwardHidden(const torch::Tensor& input_ids,
                            const torch::Tensor& document_ids) override {
    const int64_t d = config_.head_dim;
    const Prefixes prefixes = BeginForward();
    torch::Tensor embedded = torch::embedding(embed_, input_ids);
    if (gemma_) {  // sqrt(hidden) rounded to the compute dtype first, as transformers does
      embedded = embedded * torch::scalar_tensor(std::sqrt(static_cast<double>(config_.hidden)),
                                                 embedded.options());
    }
    torch::Tensor h = PrependSoftPrompt(prefixes, embedded);
    const TokenLayout layout = MakeTokenLayout(document_ids, prefixes.prompt_tokens,
                                               prefixes.kv_tokens, h.size(1), h.device());
    const int64_t rotary_dim =
        static_cast<int64_t>(static_cast<double>(d) * config_.partial_rotary_factor);
    LayerContext c;
    c.rotary =
        MakeRotaryTables(config_.rope, rotary_dim, config_.max_positions, layout, h.scalar_type());
    if (config_.model_type == "gemma3_text") {  // Gemma 3's sliding layers
      c.local_rotary = MakeRotaryTables(config_.rope_local, rotary_dim, config_.max_positions,
                                        layout, h.scalar_type());
    }
    c.full_mask = AttentionMask(layout, 0);
    c.sliding_mask =
        config_.sliding_window > 0 ? AttentionMask(layout, config_.sliding_window) : c.full_mask;
    c.scale =
        config_.query_pre_attn_scalar > 0 ? 1.0 / std::sqrt(config_.query_pre_attn_scalar) : 0;
    for (size_t i = 0; i < layers_.size(); ++i) {
      // Captures by value: a checkpointed block runs again in backward.
      h = RunBlock([this, i, c](const torch::Tensor& x) { return Block(i, x, c); }, h);
    }
    h = Norm(DropSoftPrompt(prefixes, h), norm_);
    return {.hidden = h,
            .weight = config_.tie_word_embeddings ? embed_ : lm_head_,
            .softcap = config_.final_softcap};
  }

  std::vector<LinearModule*> LinearModules() override {
    std::vector<LinearModule*> out;
    for (DecoderLayer& l : layers_) {
      for (LinearModule* m : DecoderLayer::LinearsOf(l, config_.fused_projections)) {
        out.push_back(m);
      }
    }
    return out;
  }

  std::map<std::string, torch::Tensor> StateDict() const override {
    std::map<std::string, torch::Tensor> out = {{"model.embed_tokens.weight", embed_},
                                                {"model.norm.weight", norm_}};
    if (!config_.tie_word_embeddings) out["lm_head.weight"] = lm_head_;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const DecoderLayer& l = layers_[i];
      const std::string p = LayerPrefix(static_cast<int64_t>(i));
      for (const auto& [name, t] : DecoderLayer::NormsOf(l)) out[p + name + ".weight"] = *t;
      for (const LinearModule* m : DecoderLayer::LinearsOf(l, config_.fused_projections)) {
        out[m->name + ".weight"] = m->weight;
        if (m->bias.defined()) out[m->name + ".bias"] = m->bias;
      }
    }
    return out;
  }

  std::vector<torch::Tensor> BaseParameters() override {
    std::vector<torch::Tensor> out = {embed_, norm_};
    if (lm_head_.defined()) out.push_back(lm_head_);
    for (DecoderLayer& l : layers_) {
      for (const auto& [name, t] : DecoderLayer::NormsOf(l)) out.push_back(*t);
      for (LinearModule* m : DecoderLayer::LinearsOf(l, config_.fused_projections)) {
        out.push_back(m->weight);
        if (m->bias.defined()) out.push_back(m->bias);
      }
    }
    return out;
  }

 private:
  // What every decoder layer of one Forward shares.
  struct LayerContext {
    RotaryTables rotary, local_rotary;
    torch::Tensor full_mask, sliding_mask;
    double scale = 0;  // 0: 1 / sqrt(head_dim)
  };

  // Decoder layer i on the residual stream h [batch, tokens, hidden].
  torch::Tensor Block(size_t i, const torch::Tensor& h, const LayerContext& c) const {
    const int64_t b = h.size(0), t = h.size(1);
    const int64_t d = config_.head_dim, hq = config_.heads, hkv = config_.kv_heads;
    const DecoderLayer& l = layers_[i];
    const bool sliding = config_.SlidingLayer(static_cast<int64_t>(i));
    torch::Tensor a = Norm(h, l.input_norm);
    torch::Tensor q, k, v;
    if (config_.fused_projections) {
      torch::Tensor qkv = ApplyLinear(l.q, a);
      q = qkv.slice(-1, 0, hq * d);
      k = qkv.slice(-1, hq * d, (hq + hkv) * d);
      v = qkv.slice(-1, (hq + hkv) * d);
    } else {
      q = ApplyLinear(l.q, a);
      k = ApplyLinear(l.k, a);
      v = ApplyLinear(l.v, a);
    }
    q = q.reshape({b, t, hq, d});
    k = k.reshape({b, t, hkv, d});
    if (config_.qk_norm) {
      q = Norm(q, l.q_norm);
      k = Norm(k, l.k_norm);
    }
    const RotaryTables& rot = sliding && c.local_rotary.cos.defined() ? c.local_rotary : c.rotary;
    q = ApplyRotary(q.transpose(1, 2), rot);
    k = ApplyRotary(k.transpose(1, 2), rot);
    v = v.reshape({b, t, hkv, d}).transpose(1, 2);
    std::tie(k, v) = WithKvPrefix(static_cast<int64_t>(i), k, v);
    if (hkv != hq) {  // grouped-query attention: each kv head serves hq / hkv query heads
      k = k.repeat_interleave(hq / hkv, 1);
      v = v.repeat_interleave(hq / hkv, 1);
    }
    torch::Tensor o = torch_compat::Attention(q, k, v, sliding ? c.sliding_mask : c.full_mask,
                                              c.scale, config_.attn_softcap)
                          .transpose(1, 2)
                          .reshape({b, t, hq * d});
    o = ApplyLinear(l.o, o);
    if (gemma_) o = Norm(o, l.post_attn_norm);
    torch::Tensor out = h + o;
    torch::Tensor m = Norm(out, gemma_ ? l.pre_ffn_norm : l.post_attn_norm);
    torch::Tensor f = ApplyLinear(l.down, Mlp(l, m));
    if (gemma_) f = Norm(f, l.post_ffn_norm);
    return out + f;
  }

  torch::Tensor Norm(const torch::Tensor& x, const torch::Tensor& weight) const {
    return RmsNorm(x, weight, config_.norm_eps, gemma_);
  }

  // The gated MLP's input to down_proj: act(gate) * up, SiLU or (Gemma) tanh GELU.
  torch::Tensor Mlp(const DecoderLayer& l, const torch::Tensor& x) const {
    torch::Tensor gate, up;
    if (config_.fused_projections) {
      torch::Tensor both = ApplyLinear(l.gate, x);
      gate = both.slice(-1, 0, config_.intermediate);
      up = both.slice(-1, config_.intermediate);
    } else {
      gate = ApplyLinear(l.gate, x);
      up = ApplyLinear(l.up, x);
    }
    return (gemma_ ? torch::gelu(gate, "tanh") : torch::silu(gate)) * up;
  }

  ModelConfig config_;
  bool gemma_;
  torch::Tensor embed_, norm_, lm_head_;
  std::vector<DecoderLayer> layers_;
};

}  // namespace

std::unique_ptr<CausalLm> BuildLlama(const ModelConfig& config,
                                     std::map<std::string, torch::Tensor> weights) {
  return std::make_unique<DecoderModel>(config, std::move(weights));
}

}  // namespace lf::worker::internal
