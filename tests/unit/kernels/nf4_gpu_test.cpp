// The CUDA kernels against their CPU references (ctest label gpu); skipped, saying so, where no
// CUDA device is visible.
#include <gtest/gtest.h>

#include "kernels/nf4.h"
#include "kernels/nf4_linear.h"

namespace lf::kernels {
namespace {

#define LF_SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: the CUDA kernel is not run"

TEST(Nf4GpuTest, CudaMatchesTheCpuReference) {
  LF_SKIP_WITHOUT_CUDA();
  torch::manual_seed(0);
  torch::Tensor w = torch::randn({256, 128});
  auto q = QuantizeNf4(w);
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(torch::equal(DequantizeNf4(q->To(torch::kCUDA)).cpu(), DequantizeNf4(*q)));
  // Only the codes moved: the small absmax follows them.
  Nf4Tensor codes_only = *q;
  codes_only.packed = q->packed.to(torch::kCUDA);
  EXPECT_TRUE(torch::equal(DequantizeNf4(codes_only).cpu(), DequantizeNf4(*q)));
}

TEST(Nf4GpuTest, CudaDoubleQuantMatchesTheCpuReferenceBitForBit) {
  LF_SKIP_WITHOUT_CUDA();
  torch::manual_seed(1);
  // 300 blocks: a full group of 256 and a short one.
  torch::Tensor w = torch::randn({300, 64}) * torch::rand({300, 1});
  auto q = QuantizeNf4(w, kNf4BlockSize, /*double_quant=*/true);
  ASSERT_TRUE(q.ok());
  Nf4Tensor gpu = q->To(torch::kCUDA);
  EXPECT_TRUE(torch::equal(DequantizeNf4(gpu).cpu(), DequantizeNf4(*q)));
  EXPECT_TRUE(torch::equal(Nf4Absmax(gpu).cpu(), Nf4Absmax(*q)));
  EXPECT_TRUE(
      torch::equal(DequantizeNf4Range(gpu, 30, 9002).cpu(), DequantizeNf4Range(*q, 30, 9002)));
  EXPECT_EQ(DequantizeNf4(gpu, torch::kBFloat16).scalar_type(), torch::kBFloat16);
}

TEST(Nf4GpuTest, Nf4LinearOnCudaMatchesTheCpu) {
  LF_SKIP_WITHOUT_CUDA();
  torch::manual_seed(2);
  auto q = QuantizeNf4(torch::randn({96, 128}) * 0.1, kNf4BlockSize, true);
  ASSERT_TRUE(q.ok());
  Nf4Tensor gpu = q->To(torch::kCUDA);
  torch::Tensor x = torch::randn({2, 5, 128});
  torch::Tensor bias = torch::randn({96});
  for (int64_t chunk : {kNf4LinearChunkValues, int64_t{10 * 128}}) {
    torch::Tensor x_cpu = x.clone().requires_grad_(true);
    torch::Tensor x_gpu = x.to(torch::kCUDA).requires_grad_(true);
    torch::Tensor y_cpu = Nf4Linear(x_cpu, *q, bias, chunk);
    torch::Tensor y_gpu = Nf4Linear(x_gpu, gpu, bias.to(torch::kCUDA), chunk);
    ASSERT_TRUE(y_gpu.is_cuda());
    // Same dequantised weight; only the matmul's summation order differs (cuBLAS, no TF32).
    EXPECT_TRUE(torch::allclose(y_gpu.cpu(), y_cpu, 1e-4, 1e-4)) << "chunk " << chunk;
    torch::Tensor grad_out = torch::randn(y_cpu.sizes());
    (y_cpu * grad_out).sum().backward();
    (y_gpu * grad_out.to(torch::kCUDA)).sum().backward();
    EXPECT_TRUE(torch::allclose(x_gpu.grad().cpu(), x_cpu.grad(), 1e-4, 1e-4)) << "chunk " << chunk;
  }
  EXPECT_EQ(Nf4Linear(x.to(torch::kCUDA, torch::kBFloat16), gpu).scalar_type(), torch::kBFloat16);
}

}  // namespace
}  // namespace lf::kernels
