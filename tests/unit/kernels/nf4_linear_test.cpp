// Nf4Linear against the dense reference x @ DequantizeNf4(w)^T + bias: forward, grad_x and
// grad_bias through torch's own autograd, chunking across rows, and the errors it throws.
#include "kernels/nf4_linear.h"

#include <gtest/gtest.h>

#include <string>

namespace lf::kernels {
namespace {

Nf4Tensor Quantized(const torch::Tensor& w, bool double_quant, int64_t block = kNf4BlockSize) {
  auto q = QuantizeNf4(w, block, double_quant);
  LF_CHECK_OK(q);
  return *q;
}

bool Close(const torch::Tensor& a, const torch::Tensor& b, double tol = 1e-5) {
  return a.sizes() == b.sizes() && torch::allclose(a, b, tol, tol);
}

// Forward and backward of Nf4Linear against torch::linear over the dense dequantised weight.
void ExpectMatchesDense(const torch::Tensor& x_in, const Nf4Tensor& w, bool with_bias,
                        int64_t chunk) {
  const int64_t out_features = w.shape[0];
  torch::Tensor bias = torch::randn({out_features});
  torch::Tensor x = x_in.clone().requires_grad_(true);
  torch::Tensor b = bias.clone().requires_grad_(true);
  torch::Tensor y =
      Nf4Linear(x, w, with_bias ? c10::optional<torch::Tensor>(b) : c10::nullopt, chunk);

  torch::Tensor x_ref = x_in.clone().requires_grad_(true);
  torch::Tensor b_ref = bias.clone().requires_grad_(true);
  torch::Tensor dense = DequantizeNf4(w);
  EXPECT_FALSE(dense.requires_grad());
  torch::Tensor y_ref =
      with_bias ? torch::linear(x_ref, dense, b_ref) : torch::linear(x_ref, dense);
  ASSERT_TRUE(Close(y, y_ref)) << "forward, chunk " << chunk << ": max diff "
                               << (y - y_ref).abs().max().item<float>();

  torch::Tensor grad_out = torch::randn(y.sizes());
  (y * grad_out).sum().backward();
  (y_ref * grad_out).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(Close(x.grad(), x_ref.grad())) << "grad_x, chunk " << chunk << ": max diff "
                                             << (x.grad() - x_ref.grad()).abs().max().item<float>();
  if (with_bias) {
    EXPECT_TRUE(Close(b.grad(), b_ref.grad()));
  }
}

TEST(Nf4LinearTest, MatchesTheDenseReferenceForRowsAndBatchedSequences) {
  torch::manual_seed(0);
  for (bool double_quant : {false, true}) {
    Nf4Tensor w = Quantized(torch::randn({40, 64}) * 0.1, double_quant);
    for (bool bias : {false, true}) {
      // One chunk (the default), three rows per chunk (a short last chunk), one row per chunk.
      for (int64_t chunk : {kNf4LinearChunkValues, int64_t{3 * 64}, int64_t{1}}) {
        SCOPED_TRACE("double_quant=" + std::to_string(double_quant) +
                     " bias=" + std::to_string(bias) + " chunk=" + std::to_string(chunk));
        ExpectMatchesDense(torch::randn({7, 64}), w, bias, chunk);
        ExpectMatchesDense(torch::randn({2, 5, 64}), w, bias, chunk);
      }
    }
  }
}

TEST(Nf4LinearTest, OddInFeaturesChunkOnWholeBytes) {
  // 21 values a row: a chunk must hold an even number of rows to start on a packed byte.
  torch::manual_seed(1);
  Nf4Tensor w = Quantized(torch::randn({6, 21}), false, /*block=*/14);
  for (int64_t chunk : {int64_t{1}, int64_t{3 * 21}, kNf4LinearChunkValues}) {
    ExpectMatchesDense(torch::randn({4, 21}), w, true, chunk);
  }
}

TEST(Nf4LinearTest, TheWeightGetsNoGradient) {
  Nf4Tensor w = Quantized(torch::randn({8, 64}), true);
  torch::Tensor x = torch::randn({3, 64}).requires_grad_(true);
  torch::Tensor y = Nf4Linear(x, w);
  ASSERT_TRUE(y.grad_fn() != nullptr);
  int inputs_with_gradients = 0;
  for (const auto& edge : y.grad_fn()->next_edges()) inputs_with_gradients += edge.is_valid();
  EXPECT_EQ(inputs_with_gradients, 1);  // x alone
  y.sum().backward();
  EXPECT_FALSE(w.packed.grad().defined());
  EXPECT_FALSE(w.double_quant->scales.grad().defined());
  // Without anything requiring grad, no graph at all.
  EXPECT_FALSE(Nf4Linear(torch::randn({3, 64}), w).requires_grad());
}

TEST(Nf4LinearTest, ComputesInTheInputsDtype) {
  torch::manual_seed(2);
  Nf4Tensor w = Quantized(torch::randn({16, 64}), false);
  torch::Tensor x = torch::randn({4, 64});
  torch::Tensor y = Nf4Linear(x.to(torch::kBFloat16), w);
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  torch::Tensor ref = torch::linear(x, DequantizeNf4(w));
  EXPECT_TRUE(torch::allclose(y.to(torch::kFloat32), ref, 0.05, 0.1));
  EXPECT_EQ(Nf4Linear(x.to(torch::kFloat64), w).scalar_type(), torch::kFloat64);
}

void ExpectThrowsMentioning(const std::function<void()>& fn, const std::string& text) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << text;
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find(text), std::string::npos)
        << e.what_without_backtrace();
  }
}

TEST(Nf4LinearTest, BadShapesAndDtypesThrowSayingWhat) {
  Nf4Tensor w = Quantized(torch::randn({8, 64}), false);
  ExpectThrowsMentioning([&] { Nf4Linear(torch::randn({3, 32}), w); }, "in_features 64");
  ExpectThrowsMentioning(
      [&] {
        Nf4Linear(torch::ones({3, 64}, torch::kInt32), w);
      },
      "floating-point");
  ExpectThrowsMentioning(
      [&] {
        Nf4Linear(torch::randn({3, 64}), w, torch::randn({7}));
      },
      "8 output features");
  Nf4Tensor flat = Quantized(torch::randn({512}), false);
  ExpectThrowsMentioning([&] { Nf4Linear(torch::randn({3, 512}), flat); }, "2-D");
}

}  // namespace
}  // namespace lf::kernels
