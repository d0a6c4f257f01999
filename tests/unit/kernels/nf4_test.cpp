// NF4 quantisation against its definition: the code table, packing order, error bounds, double
// quantisation of the absmax values and the bytes stored.
#include "kernels/nf4.h"

#include <gtest/gtest.h>

#include <iostream>
#include <utility>

namespace lf::kernels {
namespace {

TEST(Nf4Test, CodeValuesAreBitsandbytesTable) {
  const auto& c = Nf4Codes();
  EXPECT_EQ(c[0], -1.0f);
  EXPECT_EQ(c[7], 0.0f);
  EXPECT_EQ(c[15], 1.0f);
  EXPECT_FLOAT_EQ(c[1], -0.6961928009986877f);
  EXPECT_FLOAT_EQ(c[8], 0.07958029955625534f);
  EXPECT_FLOAT_EQ(c[14], 0.7229568362236023f);
  for (int i = 1; i < 16; ++i) EXPECT_LT(c[i - 1], c[i]);
}

TEST(Nf4Test, CodeValuesRoundTripExactlyAndPackHighNibbleFirst) {
  // A block whose values are the 16 codes (scaled by absmax 2) in order, repeated 4 times.
  torch::Tensor w = torch::empty({64});
  for (int i = 0; i < 64; ++i) w[i] = Nf4Codes()[i % 16] * 2.0f;
  auto q = QuantizeNf4(w);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->absmax.item<float>(), 2.0f);
  EXPECT_EQ(q->packed[0].item<uint8_t>(), 0x01);  // codes 0 then 1: first in the high nibble
  EXPECT_EQ(q->packed[7].item<uint8_t>(), 0xEF);  // codes 14, 15
  EXPECT_TRUE(torch::equal(DequantizeNf4(*q), w));
}

TEST(Nf4Test, ErrorIsBoundedByHalfTheLargestGapPerBlock) {
  torch::manual_seed(0);
  torch::Tensor w = torch::randn({128, 64}) * torch::rand({128, 1}) * 3;
  auto q = QuantizeNf4(w);
  ASSERT_TRUE(q.ok());
  torch::Tensor back = DequantizeNf4(*q);
  EXPECT_EQ(back.sizes(), w.sizes());
  float max_gap = 0;
  for (int i = 1; i < 16; ++i) max_gap = std::max(max_gap, Nf4Codes()[i] - Nf4Codes()[i - 1]);
  torch::Tensor absmax = q->absmax.view({-1, 1}).expand({128 * 64 / 64, 64}).reshape({128, 64});
  torch::Tensor bound = absmax * (max_gap / 2) + 1e-6;
  EXPECT_TRUE(((back - w).abs() <= bound).all().item<bool>());
  // Storage: half a byte per value plus 4 bytes per 64 values = 0.5625 bytes per parameter.
  EXPECT_EQ(q->bytes(), 128 * 64 / 2 + 128 * 4);
  EXPECT_LT((back - w).abs().mean().item<float>(), 0.1f * w.abs().mean().item<float>() + 0.05f);
}

TEST(Nf4Test, ZeroBlocksAndBadShapes) {
  auto zeros = QuantizeNf4(torch::zeros({64}));
  ASSERT_TRUE(zeros.ok());
  EXPECT_TRUE(torch::equal(DequantizeNf4(*zeros), torch::zeros({64})));
  auto odd = QuantizeNf4(torch::ones({3, 10}));
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.status().message().find("[3, 10] has 30"), std::string::npos)
      << odd.status().message();
  EXPECT_FALSE(QuantizeNf4(torch::ones({64}), 3).ok());
  EXPECT_FALSE(QuantizeNf4(torch::ones({64}, torch::kInt64)).ok());
  auto half = QuantizeNf4(torch::randn({2, 32}).to(torch::kBFloat16));
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(DequantizeNf4(*half, torch::kBFloat16).scalar_type(), torch::kBFloat16);
}

TEST(Nf4Test, DoubleQuantKeepsTheCodesAndDecodesTheAbsmaxWithinHalfAStep) {
  torch::manual_seed(1);
  // 1024 blocks of 64 whose absmax values spread widely (row scales in [0, 3)): four groups.
  torch::Tensor w = torch::randn({256, 256}) * torch::rand({256, 1}) * 3;
  auto single = QuantizeNf4(w);
  auto dq = QuantizeNf4(w, kNf4BlockSize, /*double_quant=*/true);
  ASSERT_TRUE(single.ok() && dq.ok());
  ASSERT_TRUE(dq->double_quant.has_value());
  EXPECT_FALSE(dq->absmax.defined());  // the fp32 absmax is not kept: that is the saving
  EXPECT_EQ(dq->double_quant->codes.scalar_type(), torch::kInt8);
  EXPECT_EQ(dq->double_quant->scales.numel(), 4);
  EXPECT_TRUE(torch::equal(dq->packed, single->packed));  // codes chosen against exact absmax
  EXPECT_FLOAT_EQ(dq->double_quant->offset, single->absmax.mean().item<float>());

  torch::Tensor exact = single->absmax;
  torch::Tensor decoded = Nf4Absmax(*dq);
  // Half a step of the linear int8 code: group scale / 254, per block.
  torch::Tensor step = dq->double_quant->scales.repeat_interleave(256) / 127;
  torch::Tensor err = (decoded - exact).abs();
  EXPECT_TRUE((err <= step * 0.5001 + 1e-6).all().item<bool>()) << err.max().item<float>();
  EXPECT_TRUE(torch::equal(Nf4Absmax(*single), exact));
}

TEST(Nf4Test, DoubleQuantErrorIsSmallForWeightLikeValues) {
  // A trained layer's scale (std 0.02): block absmax values cluster, so 8 bits around their mean
  // keep them to a fraction of a percent, and the weight's error barely moves.
  torch::manual_seed(5);
  torch::Tensor w = torch::randn({512, 512}) * 0.02;
  auto single = QuantizeNf4(w);
  auto dq = QuantizeNf4(w, kNf4BlockSize, true);
  ASSERT_TRUE(single.ok() && dq.ok());
  torch::Tensor rel = (Nf4Absmax(*dq) - single->absmax).abs() / single->absmax;
  EXPECT_LT(rel.max().item<float>(), 0.005f);
  const float single_err = (DequantizeNf4(*single) - w).abs().mean().item<float>();
  const float double_err = (DequantizeNf4(*dq) - w).abs().mean().item<float>();
  EXPECT_LT(std::abs(double_err - single_err), 0.02f * single_err)
      << "single " << single_err << " double " << double_err;
}

TEST(Nf4Test, DoubleQuantExactCodeValuesAndZeroBlocks) {
  // One block of the 16 codes times 2: one absmax, so offset 2, scale 0, decoded exactly.
  torch::Tensor w = torch::empty({64});
  for (int i = 0; i < 64; ++i) w[i] = Nf4Codes()[i % 16] * 2.0f;
  auto q = QuantizeNf4(w, kNf4BlockSize, true);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->double_quant->offset, 2.0f);
  EXPECT_EQ(q->packed[0].item<uint8_t>(), 0x01);
  EXPECT_TRUE(torch::equal(DequantizeNf4(*q), w));
  auto zeros = QuantizeNf4(torch::zeros({4, 64}), kNf4BlockSize, true);
  ASSERT_TRUE(zeros.ok());
  EXPECT_TRUE(torch::equal(DequantizeNf4(*zeros), torch::zeros({4, 64})));
}

TEST(Nf4Test, DoubleQuantAllowsAShortLastGroupWithoutPadding) {
  // 300 blocks: a group of 256 and one of 44, each with its own scale; nothing padded.
  torch::manual_seed(2);
  torch::Tensor w = torch::randn({300, 64}) * torch::rand({300, 1}) * 2;
  auto single = QuantizeNf4(w);
  auto q = QuantizeNf4(w, kNf4BlockSize, true);
  ASSERT_TRUE(single.ok() && q.ok());
  EXPECT_EQ(q->double_quant->codes.numel(), 300);
  EXPECT_EQ(q->double_quant->scales.numel(), 2);
  EXPECT_EQ(q->bytes(), 300 * 64 / 2 + 300 + 2 * 4 + 4);
  torch::Tensor tail = single->absmax.slice(0, 256) - q->double_quant->offset;
  EXPECT_EQ(q->double_quant->scales[1].item<float>(), tail.abs().max().item<float>());
  torch::Tensor step = q->double_quant->scales.repeat_interleave(256).slice(0, 0, 300) / 127;
  EXPECT_TRUE(((Nf4Absmax(*q) - single->absmax).abs() <= step * 0.5001 + 1e-6).all().item<bool>());
  // Fewer blocks than one group (a small test model's layer) works the same way.
  auto small = QuantizeNf4(torch::randn({10, 64}), kNf4BlockSize, true);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->double_quant->scales.numel(), 1);
}

TEST(Nf4Test, StorageBytesPerParameterFor4096x4096) {
  torch::manual_seed(3);
  torch::Tensor w = torch::randn({4096, 4096}) * 0.02;
  const int64_t n = w.numel();
  auto single = QuantizeNf4(w);
  auto dq = QuantizeNf4(w, kNf4BlockSize, true);
  ASSERT_TRUE(single.ok() && dq.ok());
  // n/2 code bytes + 4 per block of 64; with double quantisation 1 per block + 4 per 256 blocks
  // + the 4-byte offset.
  EXPECT_EQ(single->bytes(), n / 2 + (n / 64) * 4);
  EXPECT_EQ(dq->bytes(), n / 2 + n / 64 + (n / 64 / 256) * 4 + 4);
  const double single_bpp = static_cast<double>(single->bytes()) / static_cast<double>(n);
  const double double_bpp = static_cast<double>(dq->bytes()) / static_cast<double>(n);
  EXPECT_DOUBLE_EQ(single_bpp, 0.5625);
  EXPECT_NEAR(double_bpp, 0.5 + 1.0 / 64 + 4.0 / (64 * 256), 1e-6);  // 0.51587
  EXPECT_NEAR(double_bpp, 0.52, 0.052);
  std::cout << "[ measured ] NF4 bytes/param for 4096x4096: " << single_bpp << " single, "
            << double_bpp << " with double quantisation\n";
}

TEST(Nf4Test, RangesMatchTheWholeDequantisation) {
  torch::manual_seed(4);
  torch::Tensor w = torch::randn({12, 96});
  for (bool double_quant : {false, true}) {
    auto q = QuantizeNf4(w, kNf4BlockSize, double_quant);
    ASSERT_TRUE(q.ok());
    torch::Tensor whole = DequantizeNf4(*q).view({-1});
    // Ranges that start and end inside blocks, and an empty one.
    for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, 1152}, {2, 62}, {30, 700}, {96, 96}}) {
      EXPECT_TRUE(torch::equal(DequantizeNf4Range(*q, begin, end), whole.slice(0, begin, end)))
          << begin << ".." << end << " double_quant=" << double_quant;
    }
  }
}

TEST(Nf4Test, ToKeepsEveryPartTogether) {
  auto q = QuantizeNf4(torch::randn({4, 64}), kNf4BlockSize, true);
  ASSERT_TRUE(q.ok());
  Nf4Tensor moved = q->To(torch::kCPU);
  EXPECT_EQ(moved.bytes(), q->bytes());
  EXPECT_TRUE(torch::equal(DequantizeNf4(moved), DequantizeNf4(*q)));
}

TEST(Nf4Test, DoubleQuantRejectsWhatSingleQuantRejects) {
  EXPECT_FALSE(QuantizeNf4(torch::ones({3, 10}), kNf4BlockSize, true).ok());
  EXPECT_FALSE(QuantizeNf4(torch::ones({64}), 7, true).ok());
  EXPECT_FALSE(QuantizeNf4(torch::ones({64}), 0, true).ok());
}

}  // namespace
}  // namespace lf::kernels
