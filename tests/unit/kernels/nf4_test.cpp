#include "kernels/nf4.h"

#include <gtest/gtest.h>

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
  EXPECT_NE(odd.status().message().find("[3, 10] has 30"), std::string::npos) << odd.status().message();
  EXPECT_FALSE(QuantizeNf4(torch::ones({64}), 3).ok());
  EXPECT_FALSE(QuantizeNf4(torch::ones({64}, torch::kInt64)).ok());
  auto half = QuantizeNf4(torch::randn({2, 32}).to(torch::kBFloat16));
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(DequantizeNf4(*half, torch::kBFloat16).scalar_type(), torch::kBFloat16);
}

}  // namespace
}  // namespace lf::kernels
