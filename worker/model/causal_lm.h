// A decoder-only language model (GPT-2, the Llama family or Gemma) built from Hugging Face weights,
// with module names as Hugging Face has them (transformer.h.0.attn.c_attn,
// model.layers.0.self_attn.q_proj), so adapter keys and target_modules mean what they mean in
// PEFT. The base is frozen unless SetBaseTrainable(true) (full fine-tuning, pretraining): frozen
// weights keep no gradient buffers. Adapters reach into the forward pass through ModelHook,
// attached only by a ScopedHook guard for as long as the guard lives (the model never owns a hook).
// A CausalLm is used by one thread at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/status.h"
#include "worker/model/lm_head_loss.h"
#include "worker/model/model_config.h"

namespace lf::worker {

// One linear map of the model. The weight is kept as [out, in] for every architecture; GPT-2's
// Conv1D stores [in, out] in its files, which `stored_transposed` records for saving.
struct LinearModule {
  std::string name;  // Hugging Face module name, e.g. "model.layers.3.mlp.down_proj"
  int64_t layer = -1;  // the decoder layer it belongs to
  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out] or undefined
  bool stored_transposed = false;
  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }
};

// `t` in the dtype of `like`. In bf16 and fp16 training the base is stored in that format while
// trainable tensors stay fp32 (master weights); they enter the computation through this cast,
// whose backward casts the gradient back to fp32 (what autocast does for a matmul). No copy when
// the dtypes agree (fp32 training).
inline torch::Tensor InDtypeOf(const torch::Tensor& t, const torch::Tensor& like) {
  return t.scalar_type() == like.scalar_type() ? t : t.to(like.scalar_type());
}

// The options an adapter creates its trainable tensors with: the device of `model_tensor` (one
// of the model's weights) and fp32 always. They are master weights whatever dtype the base is
// stored in, drawn at initialisation exactly as in an fp32 model (random draws differ by dtype).
inline torch::TensorOptions TrainableOptions(const torch::Tensor& model_tensor) {
  return model_tensor.options().dtype(torch::kFloat32);
}

// Adapters implement this to change what the model computes. Every method has a default that
// leaves the model as it is, so an adapter overrides only the places it changes.
class ModelHook {
 public:
  virtual ~ModelHook() = default;

  // A linear module's output. `base` is x·Wᵀ + b, a fresh tensor that autograd does not keep:
  // Apply may update it in place and return it, unless it also computes from it (bottleneck
  // adapters take it as their input, so autograd then needs it unchanged). A hook that keeps a module's weight itself
  // (QLoRA's NF4 base) says so with ComputesBase: the model then skips x·Wᵀ + b for that module
  // and passes an undefined `base`.
  virtual torch::Tensor Apply(const LinearModule& /*module*/, const torch::Tensor& /*x*/,
                              torch::Tensor base) {
    return base;
  }
  virtual bool ComputesBase(const LinearModule& /*module*/) const { return false; }

  // Called once at the start of every Forward, before SoftPrompt and KvPrefix, so a hook can
  // compute what they return once per forward pass (prompt encoders, reparameterisation MLPs).
  virtual void BeginForward() {}
  // Prompt and P-tuning: embeddings [virtual_tokens, hidden] placed before every sequence's token
  // embeddings. Forward still returns logits for the real tokens only. Undefined: none.
  virtual torch::Tensor SoftPrompt() { return torch::Tensor(); }
  // Prefix tuning: keys and values [2, kv_heads, virtual_tokens, head_dim] (keys first, already
  // in attention space, so Llama does not rotate them) that every position of decoder layer
  // `layer` attends to; the real tokens' positions start after them. Undefined: none.
  virtual torch::Tensor KvPrefix(int64_t /*layer*/) { return torch::Tensor(); }
};

class ScopedHook;

class CausalLm {
 public:
  virtual ~CausalLm() = default;

  virtual const ModelConfig& config() const = 0;
  // input_ids [batch, seq] int64 -> logits [batch, seq, vocab] in the compute dtype.
  // document_ids: undefined, or [batch, seq] int64 where each row is a run of documents (ids
  // non-decreasing along the row): token i attends only to tokens j <= i of its own document, and
  // its position (rotary or GPT-2's wpe) is i minus its document's first index, so a packed row
  // equals each document run alone (torchtune's packed datasets). Prefix tuning's KvPrefix stays
  // visible to every token; a soft prompt counts as part of the first document.
  torch::Tensor Forward(const torch::Tensor& input_ids, const torch::Tensor& document_ids) {
    return LmHeadLogits(ForwardHidden(input_ids, document_ids));
  }
  torch::Tensor Forward(const torch::Tensor& input_ids) {
    return Forward(input_ids, torch::Tensor());
  }
  // Forward without the LM head: the final hidden states of the real tokens and the head that
  // turns them into logits, for losses that never hold every logit at once (LmHeadLoss).
  virtual LmHeadInput ForwardHidden(const torch::Tensor& input_ids,
                                    const torch::Tensor& document_ids) = 0;
  // While on, each decoder block of a Forward that records gradients keeps only its input and is
  // recomputed in backward (train.gradient_checkpointing): activation memory of one block
  // instead of every block's, for about one more forward pass of compute.
  void SetGradientCheckpointing(bool on) { gradient_checkpointing_ = on; }
  bool gradient_checkpointing() const { return gradient_checkpointing_; }
  // Every linear module, in file order; pointers stay valid for the model's lifetime.
  virtual std::vector<LinearModule*> LinearModules() = 0;
  // All weights under the names and layouts of a Hugging Face checkpoint (tied weights once).
  virtual std::map<std::string, torch::Tensor> StateDict() const = 0;
  // The base weights as trainable parameters (full fine-tuning and pretraining).
  virtual std::vector<torch::Tensor> BaseParameters() = 0;

  // Copies `tensors` (named and laid out as StateDict gives them) into the live weights.
  Status LoadStateDict(const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source);

  // The hook the innermost live ScopedHook set (not owned); null: the base alone.
  ModelHook* hook() const { return hook_; }
  // Positions the hook's soft prompt or prefix takes before the real tokens (both count against
  // config().max_positions). Calls BeginForward.
  int64_t VirtualTokens();
  void SetBaseTrainable(bool trainable);
  int64_t NumBaseParameters();

 protected:
  torch::Tensor ApplyLinear(const LinearModule& m, const torch::Tensor& x) const;
  // block(h), through a gradient checkpoint when gradient_checkpointing() and grad mode are on.
  // What `block` captures must outlive the backward pass (worker/model/block_checkpoint.h).
  torch::Tensor RunBlock(std::function<torch::Tensor(const torch::Tensor&)> block,
                         const torch::Tensor& h) const;

  // What the hook adds around the decoder layers for one Forward (BeginForward is called here).
  struct Prefixes {
    torch::Tensor soft_prompt;  // [p, hidden] or undefined
    int64_t prompt_tokens = 0;  // soft prompt positions, before the real tokens
    int64_t kv_tokens = 0;      // prefix-tuning positions: the first position is kv_tokens
  };
  Prefixes BeginForward();
  // Token embeddings [b, t, hidden] with the soft prompt placed before them.
  static torch::Tensor PrependSoftPrompt(const Prefixes& p, const torch::Tensor& embeddings);
  // Layer `layer`'s keys and values [b, kv_heads, seq, head_dim] with its prefix before them.
  std::pair<torch::Tensor, torch::Tensor> WithKvPrefix(int64_t layer, torch::Tensor k,
                                                       torch::Tensor v) const;
  // Logits [b, prompt_tokens + t, vocab] -> the real tokens' [b, t, vocab].
  static torch::Tensor DropSoftPrompt(const Prefixes& p, const torch::Tensor& logits);

 private:
  friend class ScopedHook;  // the only way to set hook_, so a hook cannot outlive its guard
  ModelHook* hook_ = nullptr;
  bool gradient_checkpointing_ = false;
};

// Makes `hook` the model's hook for the guard's lifetime and gives the model back the hook it had
// before when destroyed, as torch::NoGradGuard does for grad mode. `hook` null: the base alone.
// Guards nest and must end in reverse order (checked): declare a guard after the adapter it
// attaches, so that it goes first. Neither copyable nor movable; hold it in std::optional where it
// is attached only sometimes.
class ScopedHook {
 public:
  ScopedHook(CausalLm& model, ModelHook* hook);
  ~ScopedHook();
  ScopedHook(const ScopedHook&) = delete;
  ScopedHook& operator=(const ScopedHook&) = delete;

 private:
  CausalLm& model_;
  ModelHook* const hook_;
  ModelHook* const previous_;
};

struct LoadOptions {
  torch::Dtype dtype = torch::kFloat32;  // compute dtype; weights are converted on load
  torch::Device device = torch::kCPU;
};

// Loads config.json and model.safetensors (or a sharded model.safetensors.index.json) from a
// Hugging Face folder. A missing or wrong file, an unsupported architecture, or a tensor whose
// shape disagrees with config.json is an error naming the file and the tensor.
Result<std::unique_ptr<CausalLm>> LoadCausalLm(const std::string& model_dir,
                                               const LoadOptions& options = {});
// A model with freshly initialised weights, as Hugging Face initialises them (normal(0, 0.02),
// GPT-2's residual projections scaled by 1/sqrt(2 * layers)), from the given seed.
Result<std::unique_ptr<CausalLm>> NewCausalLm(const ModelConfig& config, uint64_t seed,
                                              const LoadOptions& options = {});
// Writes config.json and model.safetensors as Hugging Face's save_pretrained does.
Status SaveCausalLm(const CausalLm& model, const std::string& model_dir);

// Mean next-token cross-entropy over positions whose label is not -100, in fp32.
torch::Tensor CausalLmLoss(const torch::Tensor& logits, const torch::Tensor& labels);
// The same summed instead of averaged, for token-weighted means over several batches.
torch::Tensor CausalLmLossSum(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace lf::worker
