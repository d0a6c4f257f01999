// GroupedLora against the single-adapter LoRA formula run trial by trial: forward bit for bit on
// the CPU, gradients through torch's own autograd, ranks and row counts that differ per trial
// (empty trials included), which inputs get gradients, and the errors it throws.
#include "kernels/grouped_lora.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

namespace lf::kernels {
namespace {

// K trials of `rows[k]` rows and rank `ranks[k]` over one layer, packed the way the trainer packs
// them, with parameters that require grad.
struct Pack {
  torch::Tensor x;
  std::vector<int64_t> offsets{0};
  std::vector<torch::Tensor> a, b;
  std::vector<double> scaling;
};

Pack MakePack(const std::vector<int64_t>& rows, const std::vector<int64_t>& ranks,
              int64_t in_features, int64_t out_features, torch::Dtype dtype = torch::kFloat32) {
  Pack p;
  for (size_t k = 0; k < rows.size(); ++k) {
    p.offsets.push_back(p.offsets.back() + rows[k]);
    // A trained adapter's magnitudes (a as LoRA initialises it, b grown from zero), so that the
    // gradients are O(1) and 1e-6 is a tolerance on rounding rather than on their size.
    const double a_std = 1.0 / std::sqrt(static_cast<double>(in_features));
    p.a.push_back((torch::randn({ranks[k], in_features}) * a_std).to(dtype).requires_grad_(true));
    p.b.push_back((torch::randn({out_features, ranks[k]}) * 0.1).to(dtype).requires_grad_(true));
    p.scaling.push_back(16.0 / static_cast<double>(ranks[k]));
  }
  p.x = torch::randn({p.offsets.back(), in_features}, dtype).requires_grad_(true);
  return p;
}

// The per-trial formula of worker/peft/lora.cpp on each trial's rows, through plain autograd.
torch::Tensor Reference(const Pack& p) {
  std::vector<torch::Tensor> deltas;
  for (size_t k = 0; k < p.a.size(); ++k) {
    torch::Tensor xk = p.x.narrow(0, p.offsets[k], p.offsets[k + 1] - p.offsets[k]);
    deltas.push_back(torch::matmul(torch::matmul(xk, p.a[k].t()), p.b[k].t()) * p.scaling[k]);
  }
  return torch::cat(deltas);
}

// The same pack with fresh leaves (same values), so two graphs accumulate separate gradients.
Pack Clone(const Pack& p) {
  Pack c = p;
  c.x = p.x.detach().clone().requires_grad_(p.x.requires_grad());
  for (size_t k = 0; k < p.a.size(); ++k) {
    c.a[k] = p.a[k].detach().clone().requires_grad_(p.a[k].requires_grad());
    c.b[k] = p.b[k].detach().clone().requires_grad_(p.b[k].requires_grad());
  }
  return c;
}

bool Close(const torch::Tensor& a, const torch::Tensor& b, double tol = 1e-6) {
  return a.defined() && b.defined() && a.sizes() == b.sizes() && torch::allclose(a, b, tol, tol);
}

double MaxDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return a.numel() == 0 ? 0.0 : (a - b).abs().max().item<double>();
}

// Forward exactly, and every gradient to 1e-6, against the reference.
void ExpectMatchesReference(const Pack& pack) {
  Pack ref = Clone(pack);
  torch::Tensor y = GroupedLora(pack.x, pack.offsets, pack.a, pack.b, pack.scaling);
  torch::Tensor y_ref = Reference(ref);
  ASSERT_TRUE(torch::equal(y, y_ref)) << "forward: max diff " << MaxDiff(y, y_ref);

  torch::Tensor grad_out = torch::randn(y.sizes());
  (y * grad_out).sum().backward();
  (y_ref * grad_out).sum().backward();
  EXPECT_TRUE(Close(pack.x.grad(), ref.x.grad()))
      << "dx: max diff " << MaxDiff(pack.x.grad(), ref.x.grad());
  for (size_t k = 0; k < pack.a.size(); ++k) {
    EXPECT_TRUE(Close(pack.a[k].grad(), ref.a[k].grad()))
        << "da of trial " << k << ": max diff " << MaxDiff(pack.a[k].grad(), ref.a[k].grad());
    EXPECT_TRUE(Close(pack.b[k].grad(), ref.b[k].grad()))
        << "db of trial " << k << ": max diff " << MaxDiff(pack.b[k].grad(), ref.b[k].grad());
  }
}

TEST(GroupedLoraTest, MatchesThePerTrialFormulaForRanksOneToSixtyFour) {
  torch::manual_seed(0);
  ExpectMatchesReference(
      MakePack({5, 17, 1, 9, 3, 12, 7}, {1, 2, 8, 16, 33, 64, 4}, /*in=*/48, /*out=*/40));
  // Ranks above the feature counts, and a pack of one row per trial.
  ExpectMatchesReference(MakePack({1, 1, 1}, {64, 1, 24}, 16, 8));
}

TEST(GroupedLoraTest, EmptyTrialsGetZeroGradientsAndNoRows) {
  torch::manual_seed(1);
  Pack pack = MakePack({0, 6, 0, 0, 4, 0}, {4, 8, 2, 64, 1, 3}, 32, 24);
  ExpectMatchesReference(pack);
  for (size_t k : {size_t{0}, size_t{2}, size_t{3}, size_t{5}}) {
    ASSERT_TRUE(pack.a[k].grad().defined()) << "trial " << k;
    EXPECT_EQ(pack.a[k].grad().count_nonzero().item<int64_t>(), 0) << "trial " << k;
    EXPECT_EQ(pack.b[k].grad().count_nonzero().item<int64_t>(), 0) << "trial " << k;
  }
  // No rows at all: an empty delta, zero gradients.
  Pack empty = MakePack({0, 0}, {4, 2}, 8, 6);
  torch::Tensor y = GroupedLora(empty.x, empty.offsets, empty.a, empty.b, empty.scaling);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{0, 6}));
  y.sum().backward();
  EXPECT_EQ(empty.b[1].grad().count_nonzero().item<int64_t>(), 0);
}

TEST(GroupedLoraTest, OneTrialIsBitIdenticalToTheLoraFormulaAloneAndInsideAPack) {
  torch::manual_seed(2);
  const int64_t in = 96, out = 80, rank = 16;
  const double scale = 32.0 / rank;
  torch::Tensor x = torch::randn({37, in});
  torch::Tensor a = torch::randn({rank, in});
  torch::Tensor b = torch::randn({out, rank});
  torch::Tensor alone = GroupedLora(x, {0, 37}, {a}, {b}, {scale});
  EXPECT_TRUE(torch::equal(alone, torch::matmul(torch::matmul(x, a.t()), b.t()) * scale));

  // The same rows between two other trials' (of other ranks) give the same bits.
  torch::Tensor before = torch::randn({11, in});
  torch::Tensor after = torch::randn({5, in});
  torch::Tensor packed =
      GroupedLora(torch::cat({before, x, after}), {0, 11, 48, 53},
                  {torch::randn({4, in}), a, torch::randn({64, in})},
                  {torch::randn({out, 4}), b, torch::randn({out, 64})}, {0.5, scale, 2.0});
  EXPECT_TRUE(torch::equal(packed.narrow(0, 11, 37), alone));
}

TEST(GroupedLoraTest, OnlyInputsThatRequireGradGetGradients) {
  torch::manual_seed(3);
  Pack pack = MakePack({4, 3, 5}, {2, 8, 4}, 16, 12);
  pack.x = pack.x.detach();  // the first layer's input
  pack.a[1] = pack.a[1].detach();
  pack.b[1] = pack.b[1].detach();  // a frozen trial
  pack.b[2] = pack.b[2].detach();  // a trial training only A
  Pack ref = Clone(pack);
  torch::Tensor y = GroupedLora(pack.x, pack.offsets, pack.a, pack.b, pack.scaling);
  ASSERT_TRUE(y.requires_grad());
  y.pow(2).sum().backward();
  Reference(ref).pow(2).sum().backward();
  EXPECT_FALSE(pack.x.grad().defined());
  EXPECT_FALSE(pack.a[1].grad().defined());
  EXPECT_FALSE(pack.b[1].grad().defined());
  EXPECT_FALSE(pack.b[2].grad().defined());
  EXPECT_TRUE(Close(pack.a[0].grad(), ref.a[0].grad()));
  EXPECT_TRUE(Close(pack.b[0].grad(), ref.b[0].grad()));
  EXPECT_TRUE(Close(pack.a[2].grad(), ref.a[2].grad()));
  // Nothing requires grad: no graph.
  torch::NoGradGuard no_grad;
  EXPECT_FALSE(GroupedLora(pack.x, pack.offsets, pack.a, pack.b, pack.scaling).requires_grad());
}

TEST(GroupedLoraTest, ComputesInTheInputsDtype) {
  torch::manual_seed(4);
  Pack pack = MakePack({3, 0, 6}, {2, 5, 7}, 20, 9, torch::kFloat64);
  ExpectMatchesReference(pack);
  EXPECT_EQ(pack.x.grad().scalar_type(), torch::kFloat64);
}

void ExpectThrowsMentioning(const std::function<void()>& fn,
                            const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << parts.front();
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "no \"" << part << "\" in: " << message;
    }
  }
}

TEST(GroupedLoraTest, BadInputsThrowNamingTheTrialAndWhat) {
  torch::manual_seed(5);
  Pack p = MakePack({2, 3, 4}, {2, 4, 8}, 16, 12);
  auto call = [](const Pack& q) { GroupedLora(q.x, q.offsets, q.a, q.b, q.scaling); };
  auto with = [&](const std::function<void(Pack&)>& change) {
    Pack q = p;
    change(q);
    return [q, call] { call(q); };
  };
  ExpectThrowsMentioning(with([](Pack& q) { q.offsets.back() = 8; }),
                         {"offsets end at row 8", "x has 9 rows"});
  ExpectThrowsMentioning(with([](Pack& q) {
                           q.offsets = {0, 5, 2, 9};
                         }),
                         {"trial 1", "rows [5, 2)", "non-decreasing"});
  ExpectThrowsMentioning(with([](Pack& q) { q.offsets[0] = 1; }), {"offsets[0] is 1"});
  ExpectThrowsMentioning(with([](Pack& q) { q.offsets.pop_back(); }),
                         {"3 offsets for 3 trials", "needs 4"});
  ExpectThrowsMentioning(with([](Pack& q) { q.b.pop_back(); }), {"3 trials' a but 2 b"});
  ExpectThrowsMentioning(with([](Pack& q) { q.scaling.push_back(1.0); }),
                         {"3 trials' a", "4 scaling factors"});
  ExpectThrowsMentioning(with([](Pack& q) {
                           q.a[1] = torch::randn({4, 15});
                         }),
                         {"trial 1's a has shape [4, 15]", "in_features 16"});
  ExpectThrowsMentioning(with([](Pack& q) {
                           q.b[2] = torch::randn({12, 7});
                         }),
                         {"trial 2's b has shape [12, 7]", "rank 8"});
  ExpectThrowsMentioning(with([](Pack& q) {
                           q.b[1] = torch::randn({13, 4});
                         }),
                         {"trial 1's b has 13 out_features", "trial 0's has 12"});
  ExpectThrowsMentioning(with([](Pack& q) {
                           q.a[2] = torch::randn({8, 16}, torch::kFloat64);
                         }),
                         {"trial 2's a and b are Double and Float", "x is Float"});
  ExpectThrowsMentioning(with([](Pack& q) {
                           q.x = q.x.view({3, 3, 16});
                         }),
                         {"2-D", "[3, 3, 16]", "reshape"});
  ExpectThrowsMentioning(with([](Pack& q) {
                           q.a.clear();
                           q.b.clear();
                           q.scaling.clear();
                         }),
                         {"at least one trial"});
}

}  // namespace
}  // namespace lf::kernels
