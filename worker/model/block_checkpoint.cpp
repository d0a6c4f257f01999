#include "worker/model/block_checkpoint.h"

#include <ATen/Context.h>

#include <mutex>

namespace lf::worker::internal {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The block and the generator state its forward started from, carried through the autograd
// context (which stores only IValues).
struct BlockHolder : torch::CustomClassHolder {
  Block block;
  torch::Tensor rng_state;
  torch::Device device = torch::kCPU;
};

at::Generator DefaultGenerator(const torch::Device& device) {
  return device.is_cuda() ? at::globalContext().defaultGenerator(device)
                          : at::detail::getDefaultCPUGenerator();
}

torch::Tensor GetRngState(const torch::Device& device) {
  at::Generator gen = DefaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void SetRngState(const torch::Device& device, const torch::Tensor& state) {
  at::Generator gen = DefaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& h,
                               const c10::intrusive_ptr<BlockHolder>& holder) {
    holder->device = h.device();
    holder->rng_state = GetRngState(h.device());
    torch::Tensor out;
    {
      torch::NoGradGuard no_grad;
      out = holder->block(h);
    }
    ctx->save_for_backward({h});
    ctx->saved_data["block"] = c10::IValue::make_capsule(holder);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto holder =
        c10::static_intrusive_pointer_cast<BlockHolder>(ctx->saved_data["block"].toCapsule());
    torch::Tensor h = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    const torch::Tensor now = GetRngState(holder->device);
    SetRngState(holder->device, holder->rng_state);
    torch::Tensor out;
    {
      torch::AutoGradMode grad_mode(true);
      out = holder->block(h);
    }
    SetRngState(holder->device, now);
    // retain_graph: the block may read tensors made once per forward outside it (a prefix
    // encoder's output), whose graph every layer's recomputation goes through in turn.
    torch::autograd::backward({out}, {grad_outputs[0]}, /*retain_graph=*/true);
    return {h.grad(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor CheckpointBlock(Block block, const torch::Tensor& h) {
  auto holder = c10::make_intrusive<BlockHolder>();
  holder->block = std::move(block);
  // The output must require grad for backward to reach the block at all: with a frozen embedding
  // the first block's input does not (PEFT's enable_input_require_grads, for the same reason).
  const torch::Tensor input = h.requires_grad() ? h : h.detach().requires_grad_(true);
  return CheckpointFunction::apply(input, holder);
}

}  // namespace lf::worker::internal
