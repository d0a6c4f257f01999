// Gradient checkpointing for one decoder block (train.gradient_checkpointing): LibTorch's C++ API
// has no torch.utils.checkpoint, so this is its reentrant form as a torch::autograd::Function.
// Forward runs the block without recording a graph and keeps only its input; backward runs it
// again with grad enabled and back-propagates through that. Internal to worker/model.
#pragma once

#include <functional>

#include <torch/torch.h>

namespace lf::worker::internal {

using Block = std::function<torch::Tensor(const torch::Tensor&)>;

// block(h), keeping h instead of the block's activations. `block` must compute the same function
// when called again in backward: what it captures must outlive the backward pass (capture tensors
// by value). Random draws inside it (adapter dropout) repeat: the default generator of h's device
// is saved before the forward and put back for the recomputation, then restored. Gradients of
// what the block reads besides h (adapter weights, a trainable base) accumulate in their .grad
// during that recomputation's backward, as PyTorch's reentrant checkpoint does; only h's gradient
// flows on through the outer graph.
torch::Tensor CheckpointBlock(Block block, const torch::Tensor& h);

}  // namespace lf::worker::internal
