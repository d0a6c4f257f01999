// Nf4Linear as a torch::autograd::Function. Both passes walk the weight in chunks of output rows:
// forward writes each chunk's columns of the output, backward accumulates each chunk's share of
// grad_x. The device-specific part is DequantizeNf4Range; the matmuls are torch's (BLAS/cuBLAS).
#include "kernels/nf4_linear.h"

#include <algorithm>
#include <utility>

namespace lf::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The NF4 weight, carried through the autograd context (which stores only IValues).
struct Nf4Holder : torch::CustomClassHolder {
  explicit Nf4Holder(Nf4Tensor w) : weight(std::move(w)) {}
  Nf4Tensor weight;
};

// Rows per chunk: as many as fit in max_values, and an even row count when rows are odd-length
// so that every chunk starts on a packed byte.
int64_t RowsPerChunk(int64_t out_features, int64_t in_features, int64_t max_values) {
  int64_t rows = std::clamp<int64_t>(max_values / in_features, 1, out_features);
  if (in_features % 2 != 0 && rows % 2 != 0 && rows < out_features) rows = rows > 1 ? rows - 1 : 2;
  return rows;
}

// Calls fn(first_row, row_count, dequantised rows [row_count, in] in `dtype`) for each chunk.
template <typename Fn>
void ForEachChunk(const Nf4Tensor& w, int64_t max_values, torch::Dtype dtype, Fn&& fn) {
  const int64_t out_features = w.shape[0];
  const int64_t in_features = w.shape[1];
  const int64_t rows = RowsPerChunk(out_features, in_features, max_values);
  for (int64_t r0 = 0; r0 < out_features; r0 += rows) {
    const int64_t n = std::min(rows, out_features - r0);
    torch::Tensor chunk =
        DequantizeNf4Range(w, r0 * in_features, (r0 + n) * in_features).view({n, in_features});
    fn(r0, n, chunk.to(dtype));
  }
}

struct Nf4MatmulFunction : torch::autograd::Function<Nf4MatmulFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const c10::intrusive_ptr<Nf4Holder>& holder, int64_t max_values) {
    const Nf4Tensor& w = holder->weight;
    const int64_t out_features = w.shape[0];
    torch::Tensor x2d = x.reshape({-1, w.shape[1]});
    torch::Tensor out = torch::empty({x2d.size(0), out_features}, x.options());
    ForEachChunk(w, max_values, x.scalar_type(),
                 [&](int64_t r0, int64_t n, const torch::Tensor& rows) {
                   // A column slice of the row-major output is a valid strided BLAS destination.
                   torch::Tensor dst = n == out_features ? out : out.narrow(1, r0, n);
                   torch::mm_out(dst, x2d, rows.t());
                 });
    ctx->saved_data["weight"] = c10::IValue::make_capsule(holder);
    ctx->saved_data["max_values"] = max_values;
    ctx->saved_data["x_sizes"] = x.sizes().vec();
    std::vector<int64_t> out_sizes = x.sizes().vec();
    out_sizes.back() = out_features;
    return out.view(out_sizes);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto holder =
        c10::static_intrusive_pointer_cast<Nf4Holder>(ctx->saved_data["weight"].toCapsule());
    const Nf4Tensor& w = holder->weight;
    const int64_t max_values = ctx->saved_data["max_values"].toInt();
    const std::vector<int64_t> x_sizes = ctx->saved_data["x_sizes"].toIntVector();
    torch::Tensor grad2d = grad_outputs[0].reshape({-1, w.shape[0]});
    torch::Tensor grad_x = torch::empty({grad2d.size(0), w.shape[1]}, grad2d.options());
    ForEachChunk(w, max_values, grad2d.scalar_type(),
                 [&](int64_t r0, int64_t n, const torch::Tensor& rows) {
                   torch::Tensor g = grad2d.narrow(1, r0, n);
                   if (r0 == 0) {
                     torch::mm_out(grad_x, g, rows);
                   } else {
                     grad_x.addmm_(g, rows);
                   }
                 });
    // One gradient per forward argument: none for the weight or the chunk size.
    return {grad_x.view(x_sizes), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor Nf4Linear(const torch::Tensor& x, const Nf4Tensor& w,
                        const c10::optional<torch::Tensor>& bias, int64_t max_chunk_values) {
  TORCH_CHECK(w.shape.size() == 2, "Nf4Linear needs a 2-D [out, in] NF4 weight, got shape ",
              c10::IntArrayRef(w.shape));
  TORCH_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == w.shape[1], "Nf4Linear: input of shape ",
              x.defined() ? x.sizes() : c10::IntArrayRef{},
              " does not end in the weight's in_features ", w.shape[1], " (weight shape ",
              c10::IntArrayRef(w.shape), ")");
  TORCH_CHECK(x.is_floating_point(), "Nf4Linear needs a floating-point input, got ",
              x.scalar_type());
  TORCH_CHECK(x.device() == w.device(), "Nf4Linear: input on ", x.device(), " but NF4 weight on ",
              w.device(), "; move the weight with Nf4Tensor::To");
  TORCH_CHECK(max_chunk_values > 0, "Nf4Linear: max_chunk_values must be positive, got ",
              max_chunk_values);
  torch::Tensor out =
      Nf4MatmulFunction::apply(x, c10::make_intrusive<Nf4Holder>(w), max_chunk_values);
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == w.shape[0], "Nf4Linear: bias of shape ",
                bias->sizes(), " for ", w.shape[0], " output features");
    out = out + bias->to(out.scalar_type());
  }
  return out;
}

}  // namespace lf::kernels
