// The CUDA kernels against their CPU references (ctest label gpu); skipped, saying so, where no
// CUDA device is visible.
#include <gtest/gtest.h>

#include "kernels/nf4.h"

namespace lf::kernels {
namespace {

TEST(Nf4GpuTest, CudaMatchesTheCpuReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: the CUDA kernel is not run";
  torch::Tensor w = torch::randn({256, 128});
  auto q = QuantizeNf4(w);
  ASSERT_TRUE(q.ok());
  Nf4Tensor on_gpu = *q;
  on_gpu.packed = q->packed.to(torch::kCUDA);
  EXPECT_TRUE(torch::equal(DequantizeNf4(on_gpu).cpu(), DequantizeNf4(*q)));
}

}  // namespace
}  // namespace lf::kernels
