// What each architecture's checkpoint holds (names, shapes, initialisation) and how names found
// in files map to the canonical ones.
#include "worker/model/architectures.h"

namespace lf::worker::internal {

std::vector<TensorSpec> ExpectedTensors(const ModelConfig& c) {
  std::vector<TensorSpec> out;
  const int64_t h = c.hidden;
  if (c.arch == Architecture::kGpt2) {
    out.push_back({"transformer.wte.weight", {c.vocab_size, h}});
    out.push_back({"transformer.wpe.weight", {c.max_positions, h}});
    for (int64_t i = 0; i < c.layers; ++i) {
      const std::string p = "transformer.h." + std::to_string(i) + ".";
      out.push_back({p + "ln_1.weight", {h}, Init::kOnes});
      out.push_back({p + "ln_1.bias", {h}, Init::kZeros});
      out.push_back({p + "attn.c_attn.weight", {h, 3 * h}});  // Conv1D: [in, out]
      out.push_back({p + "attn.c_attn.bias", {3 * h}, Init::kZeros});
      out.push_back({p + "attn.c_proj.weight", {h, h}, Init::kResidualNormal});
      out.push_back({p + "attn.c_proj.bias", {h}, Init::kZeros});
      out.push_back({p + "ln_2.weight", {h}, Init::kOnes});
      out.push_back({p + "ln_2.bias", {h}, Init::kZeros});
      out.push_back({p + "mlp.c_fc.weight", {h, c.intermediate}});
      out.push_back({p + "mlp.c_fc.bias", {c.intermediate}, Init::kZeros});
      out.push_back({p + "mlp.c_proj.weight", {c.intermediate, h}, Init::kResidualNormal});
      out.push_back({p + "mlp.c_proj.bias", {h}, Init::kZeros});
    }
    out.push_back({"transformer.ln_f.weight", {h}, Init::kOnes});
    out.push_back({"transformer.ln_f.bias", {h}, Init::kZeros});
    return out;
  }
  // The Llama family and Gemma. Gemma's norms compute x * (1 + w): they start at zero.
  const int64_t q = c.heads * c.head_dim, kv = c.kv_heads * c.head_dim;
  const bool gemma = c.arch == Architecture::kGemma;
  const Init norm_init = gemma ? Init::kZeros : Init::kOnes;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, h}});
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.push_back({p + "input_layernorm.weight", {h}, norm_init});
    if (c.fused_projections) {
      out.push_back({p + "self_attn.qkv_proj.weight", {q + 2 * kv, h}});
    } else {
      out.push_back({p + "self_attn.q_proj.weight", {q, h}});
      out.push_back({p + "self_attn.k_proj.weight", {kv, h}});
      out.push_back({p + "self_attn.v_proj.weight", {kv, h}});
      if (c.qkv_bias) {
        out.push_back({p + "self_attn.q_proj.bias", {q}, Init::kZeros});
        out.push_back({p + "self_attn.k_proj.bias", {kv}, Init::kZeros});
        out.push_back({p + "self_attn.v_proj.bias", {kv}, Init::kZeros});
      }
    }
    if (c.qk_norm) {
      out.push_back({p + "self_attn.q_norm.weight", {c.head_dim}, norm_init});
      out.push_back({p + "self_attn.k_norm.weight", {c.head_dim}, norm_init});
    }
    out.push_back({p + "self_attn.o_proj.weight", {h, q}});
    if (c.o_bias) out.push_back({p + "self_attn.o_proj.bias", {h}, Init::kZeros});
    out.push_back({p + "post_attention_layernorm.weight", {h}, norm_init});
    if (gemma) {
      out.push_back({p + "pre_feedforward_layernorm.weight", {h}, norm_init});
      out.push_back({p + "post_feedforward_layernorm.weight", {h}, norm_init});
    }
    if (c.fused_projections) {
      out.push_back({p + "mlp.gate_up_proj.weight", {2 * c.intermediate, h}});
    } else {
      out.push_back({p + "mlp.gate_proj.weight", {c.intermediate, h}});
      out.push_back({p + "mlp.up_proj.weight", {c.intermediate, h}});
    }
    out.push_back({p + "mlp.down_proj.weight", {h, c.intermediate}});
  }
  out.push_back({"model.norm.weight", {h}, norm_init});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, h}});
  return out;
}

std::string CanonicalName(const ModelConfig& c, const std::string& name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() &&
           std::string_view(name).substr(name.size() - suffix.size()) == suffix;
  };
  if (c.arch == Architecture::kGpt2) {
    // Causal-mask buffers that older GPT-2 checkpoints carry; the tied lm_head.
    if (ends_with(".attn.bias") || ends_with(".attn.masked_bias") || name == "lm_head.weight") {
      return "";
    }
    if (name.rfind("transformer.", 0) == 0) return name;
    return "transformer." + name;  // GPT2Model checkpoints have no prefix
  }
  if (ends_with("rotary_emb.inv_freq")) return "";
  if (name == "lm_head.weight" && c.tie_word_embeddings) return "";
  return name;
}

}  // namespace lf::worker::internal

namespace lf::worker {

// Counted from the checkpoint's tensors, so the count cannot drift from what is loaded.
int64_t ModelConfig::NumParameters() const {
  int64_t total = 0;
  for (const internal::TensorSpec& spec : internal::ExpectedTensors(*this)) {
    int64_t n = 1;
    for (int64_t d : spec.shape) n *= d;
    total += n;
  }
  return total;
}

}  // namespace lf::worker

namespace lf::worker::internal {

torch::Tensor Take(std::map<std::string, torch::Tensor>& weights, const std::string& name) {
  auto it = weights.find(name);
  LF_CHECK_MSG(it != weights.end(), "weight " + name + " was not loaded");
  torch::Tensor t = std::move(it->second);
  weights.erase(it);
  return t;
}

LinearModule MakeLinear(std::map<std::string, torch::Tensor>& weights, const std::string& module,
                        int64_t layer, bool bias, bool stored_transposed) {
  LinearModule m;
  m.name = module;
  m.layer = layer;
  m.stored_transposed = stored_transposed;
  torch::Tensor w = Take(weights, module + ".weight");
  m.weight = stored_transposed ? w.t().contiguous() : w;
  if (bias) m.bias = Take(weights, module + ".bias");
  return m;
}

torch::Tensor StoredWeight(const LinearModule& m) {
  return m.stored_transposed ? m.weight.t().contiguous() : m.weight;
}

}  // namespace lf::worker::internal
