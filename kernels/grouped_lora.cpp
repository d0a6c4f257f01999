// GroupedLora as a torch::autograd::Function. Both passes are written as stages of independent
// per-trial products c = alpha * a @ b: forward is two (x_k a_k^T, then s_k (.) b_k^T), backward
// two (s_k g_k b_k, then everything that needs it). RunStage runs a stage as torch's mm per trial
// (the CPU reference, and the fallback for dtypes the kernels lack) or, for CUDA tensors, as one
// grouped GEMM over all trials: on tensor cores (cuBLAS) for half and bfloat16 where the build
// has it, else the SIMT segmented-GEMM kernel.
#include "kernels/grouped_lora.h"

#include <atomic>
#include <string>

#include "common/status.h"

#ifdef LF_WITH_CUDA
#include "kernels/grouped_lora_cuda.cuh"
#endif

namespace lf::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One product of a stage: c = alpha * a @ b for a [m, k] and b [k, n] with any strides, into c
// [m, n], a view with unit column stride that is written whole (zeros when k is 0).
struct Product {
  torch::Tensor a;
  torch::Tensor b;
  torch::Tensor c;
  double alpha = 1.0;
};

std::atomic<bool> use_tensor_cores{true};

#ifdef LF_WITH_CUBLAS_GROUPED_GEMM
constexpr bool kHasTensorCorePath = true;
#else
constexpr bool kHasTensorCorePath = false;
#endif

// The factory that picks the CPU or a CUDA implementation: the only #ifdefs besides the include.
void RunStage(const std::vector<Product>& products) {
  if (products.empty()) return;
#ifdef LF_WITH_CUDA
  const torch::Tensor& first = products.front().c;
  const c10::ScalarType dtype = first.scalar_type();
  if (first.is_cuda() &&
      (dtype == torch::kFloat32 || dtype == torch::kFloat16 || dtype == torch::kBFloat16)) {
    const c10::DeviceGuard guard(first.device());
    std::vector<cuda::GemmProblem> problems;
    problems.reserve(products.size());
    for (const Product& p : products) {
      cuda::GemmProblem g;
      g.m = p.c.size(0);
      g.n = p.c.size(1);
      g.k = p.a.size(1);
      g.a = p.a.data_ptr();
      g.a_row_stride = p.a.stride(0);
      g.a_col_stride = p.a.stride(1);
      g.b = p.b.data_ptr();
      g.b_row_stride = p.b.stride(0);
      g.b_col_stride = p.b.stride(1);
      g.c = p.c.data_ptr();
      g.ldc = p.c.stride(0);
      g.alpha = static_cast<float>(p.alpha);
      problems.push_back(g);
    }
    const cuda::GemmDtype kernel_dtype = dtype == torch::kFloat32   ? cuda::GemmDtype::kFloat32
                                         : dtype == torch::kFloat16 ? cuda::GemmDtype::kFloat16
                                                                    : cuda::GemmDtype::kBFloat16;
    std::string error;
    if (dtype != torch::kFloat32 && kHasTensorCorePath && use_tensor_cores.load()) {
#ifdef LF_WITH_CUBLAS_GROUPED_GEMM
      error = cuda::GroupedGemmTensorCores(problems, kernel_dtype);
#endif
    } else {
      error = cuda::GroupedGemm(problems, kernel_dtype);
    }
    LF_CHECK_MSG(error.empty(), error);
    return;
  }
#endif
  for (const Product& p : products) {
    if (p.c.numel() == 0) continue;
    // mm then an in-place multiply by the scalar: the same two roundings as the single-adapter
    // matmul(...) * s, which is what makes one trial bit-identical to it.
    torch::Tensor c = p.c;
    torch::mm_out(c, p.a, p.b);
    if (p.alpha != 1.0) c.mul_(p.alpha);
  }
}

// Forward's inputs after x are a[0..K), b[0..K) (one autograd edge each), then the offsets and
// scaling; backward returns one gradient per input in that order.
struct GroupedLoraFunction : torch::autograd::Function<GroupedLoraFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, at::TensorList a,
                               at::TensorList b, const std::vector<int64_t>& offsets,
                               const std::vector<double>& scaling) {
    const size_t trials = a.size();
    torch::Tensor out = torch::empty({x.size(0), b[0].size(0)}, x.options());
    variable_list saved;
    saved.reserve(1 + 3 * trials);
    saved.push_back(x);
    saved.insert(saved.end(), a.begin(), a.end());
    saved.insert(saved.end(), b.begin(), b.end());
    std::vector<Product> down, up;
    for (size_t k = 0; k < trials; ++k) {
      const int64_t rows = offsets[k + 1] - offsets[k];
      // Kept for db_k: recomputing it would cost as much as the forward's first stage.
      torch::Tensor xa = torch::empty({rows, a[k].size(0)}, x.options());
      down.push_back({x.narrow(0, offsets[k], rows), a[k].t(), xa});
      up.push_back({xa, b[k].t(), out.narrow(0, offsets[k], rows), scaling[k]});
      saved.push_back(xa);
    }
    RunStage(down);
    RunStage(up);
    ctx->save_for_backward(saved);
    ctx->saved_data["offsets"] = offsets;
    ctx->saved_data["scaling"] = scaling;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const std::vector<int64_t> offsets = ctx->saved_data["offsets"].toIntVector();
    const std::vector<double> scaling = ctx->saved_data["scaling"].toDoubleVector();
    const variable_list saved = ctx->get_saved_variables();
    const size_t trials = scaling.size();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& grad = grad_outputs[0];
    // Frozen trials (and an x that is a leaf without grad) cost nothing.
    const bool need_x = ctx->needs_input_grad(0);
    variable_list grads(1 + 2 * trials + 2);  // none for the offsets and the scaling
    if (need_x) grads[0] = torch::empty(x.sizes(), x.options());

    // Stage 1: gb_k = s_k * g_k @ b_k, shared by dx_k and da_k. Stage 2: the rest, independent.
    std::vector<torch::Tensor> gb(trials);
    std::vector<Product> first, second;
    for (size_t k = 0; k < trials; ++k) {
      const torch::Tensor& a = saved[1 + k];
      const torch::Tensor& b = saved[1 + trials + k];
      const torch::Tensor& xa = saved[1 + 2 * trials + k];
      const int64_t rows = offsets[k + 1] - offsets[k];
      const torch::Tensor g = grad.narrow(0, offsets[k], rows);
      if (need_x || ctx->needs_input_grad(1 + k)) {
        gb[k] = torch::empty({rows, a.size(0)}, grad.options());
        first.push_back({g, b, gb[k], scaling[k]});
      }
      if (ctx->needs_input_grad(1 + trials + k)) {
        grads[1 + trials + k] = torch::empty(b.sizes(), b.options());
        second.push_back({g.t(), xa, grads[1 + trials + k], scaling[k]});
      }
    }
    RunStage(first);
    for (size_t k = 0; k < trials; ++k) {
      const torch::Tensor& a = saved[1 + k];
      const int64_t rows = offsets[k + 1] - offsets[k];
      if (need_x) second.push_back({gb[k], a, grads[0].narrow(0, offsets[k], rows)});
      if (ctx->needs_input_grad(1 + k)) {
        grads[1 + k] = torch::empty(a.sizes(), a.options());
        second.push_back({gb[k].t(), x.narrow(0, offsets[k], rows), grads[1 + k]});
      }
    }
    RunStage(second);
    return grads;
  }
};

c10::IntArrayRef Shape(const torch::Tensor& t) {
  return t.defined() ? t.sizes() : c10::IntArrayRef{};
}

}  // namespace

// The factory's other question: built with the tensor-core path, and the loaded cuBLAS has it.
bool GroupedLoraHasTensorCorePath() {
#ifdef LF_WITH_CUBLAS_GROUPED_GEMM
  return cuda::TensorCoreGemmLoaded();
#else
  return kHasTensorCorePath;
#endif
}

void UseGroupedLoraTensorCores(bool use) { use_tensor_cores.store(use); }

torch::Tensor GroupedLora(const torch::Tensor& x, const std::vector<int64_t>& offsets,
                          const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                          const std::vector<double>& scaling) {
  TORCH_CHECK(x.defined() && x.dim() == 2, "GroupedLora needs a 2-D input [rows, in_features], ",
              "got shape ", Shape(x),
              "; flatten leading dimensions with reshape({-1, in_features})");
  TORCH_CHECK(x.is_floating_point(), "GroupedLora needs a floating-point input, got ",
              x.scalar_type());
  const size_t trials = a.size();
  TORCH_CHECK(trials > 0, "GroupedLora needs at least one trial; a, b and scaling are empty");
  TORCH_CHECK(b.size() == trials && scaling.size() == trials, "GroupedLora: ", trials,
              " trials' a but ", b.size(), " b and ", scaling.size(),
              " scaling factors; pass one of each per trial");
  TORCH_CHECK(offsets.size() == trials + 1, "GroupedLora: ", offsets.size(), " offsets for ",
              trials, " trials; needs ", trials + 1, " (0, then each trial's end row)");
  TORCH_CHECK(offsets[0] == 0, "GroupedLora: offsets[0] is ", offsets[0], "; it must be 0");
  for (size_t k = 0; k < trials; ++k) {
    TORCH_CHECK(offsets[k] <= offsets[k + 1], "GroupedLora: offsets decrease at trial ", k,
                ": rows [", offsets[k], ", ", offsets[k + 1], "); offsets must be non-decreasing");
  }
  TORCH_CHECK(offsets.back() == x.size(0), "GroupedLora: offsets end at row ", offsets.back(),
              " but x has ", x.size(0), " rows; the last offset must be the row count");
  const int64_t in_features = x.size(1);
  const int64_t out_features = b[0].defined() && b[0].dim() == 2 ? b[0].size(0) : -1;
  for (size_t k = 0; k < trials; ++k) {
    TORCH_CHECK(a[k].defined() && a[k].dim() == 2 && a[k].size(1) == in_features,
                "GroupedLora: trial ", k, "'s a has shape ", Shape(a[k]), "; needs [rank, ",
                in_features, "] for x's in_features ", in_features);
    const int64_t rank = a[k].size(0);
    TORCH_CHECK(b[k].defined() && b[k].dim() == 2 && b[k].size(1) == rank, "GroupedLora: trial ", k,
                "'s b has shape ", Shape(b[k]), "; needs [out_features, ", rank,
                "] for its a of rank ", rank);
    TORCH_CHECK(b[k].size(0) == out_features, "GroupedLora: trial ", k, "'s b has ", b[k].size(0),
                " out_features but trial 0's has ", out_features,
                "; every trial adapts the same layer");
    TORCH_CHECK(a[k].scalar_type() == x.scalar_type() && b[k].scalar_type() == x.scalar_type(),
                "GroupedLora: trial ", k, "'s a and b are ", a[k].scalar_type(), " and ",
                b[k].scalar_type(), " but x is ", x.scalar_type());
    TORCH_CHECK(a[k].device() == x.device() && b[k].device() == x.device(), "GroupedLora: trial ",
                k, "'s a and b are on ", a[k].device(), " and ", b[k].device(), " but x is on ",
                x.device());
  }
  return GroupedLoraFunction::apply(x, at::TensorList(a), at::TensorList(b), offsets, scaling);
}

}  // namespace lf::kernels
