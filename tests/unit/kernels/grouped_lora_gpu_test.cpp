// GroupedLora's CUDA paths against the CPU reference (ctest label gpu): the SIMT segmented-GEMM
// kernel (forward and every gradient, tiles cut by odd sizes, empty trials, more trials than one
// launch holds, strided gradients) and, for bfloat16 and float16, the tensor-core path (cuBLAS's
// grouped GEMM) with the SIMT kernel taking what cuBLAS cannot read in place. Skipped, saying
// so, where no CUDA device is visible.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>

#include "kernels/grouped_lora.h"

namespace lf::kernels {
namespace {

#define LF_SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: the CUDA kernel is not run"

// One layer's pack on `device` in `dtype`, every tensor a leaf that requires grad; the same seed
// gives the same values on every device.
struct Pack {
  torch::Tensor x;
  std::vector<int64_t> offsets{0};
  std::vector<torch::Tensor> a, b;
  std::vector<double> scaling;
};

Pack MakePack(const std::vector<int64_t>& rows, const std::vector<int64_t>& ranks, int64_t in,
              int64_t out, uint64_t seed, torch::Device device,
              torch::Dtype dtype = torch::kFloat32) {
  torch::manual_seed(seed);
  Pack p;
  auto leaf = [&](torch::Tensor t) { return t.to(device, dtype).requires_grad_(true); };
  for (size_t k = 0; k < rows.size(); ++k) {
    p.offsets.push_back(p.offsets.back() + rows[k]);
    p.a.push_back(leaf(torch::randn({ranks[k], in}) * 0.1));
    p.b.push_back(leaf(torch::randn({out, ranks[k]}) * 0.1));
    p.scaling.push_back(16.0 / static_cast<double>(ranks[k]));
  }
  p.x = leaf(torch::randn({p.offsets.back(), in}));
  return p;
}

bool Close(const torch::Tensor& gpu, const torch::Tensor& cpu, double tol) {
  return gpu.defined() && cpu.defined() &&
         torch::allclose(gpu.cpu().to(torch::kFloat64), cpu.to(torch::kFloat64), tol, tol);
}

// Forward, then backward of sum(y * w) (or of sum(y), whose gradient has zero strides), on CUDA
// in `dtype` against the CPU.
void ExpectCudaMatchesCpu(const std::vector<int64_t>& rows, const std::vector<int64_t>& ranks,
                          int64_t in, int64_t out, bool strided_grad,
                          torch::Dtype dtype = torch::kFloat32, double tol = 1e-4) {
  Pack gpu = MakePack(rows, ranks, in, out, 7, torch::kCUDA, dtype);
  // The reference gets the same (rounded) inputs and computes in fp32, or in fp64 for fp64.
  Pack cpu = MakePack(rows, ranks, in, out, 7, torch::kCPU, dtype);
  const torch::Dtype ref_dtype = dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  auto widen = [&](torch::Tensor& t) { t = t.detach().to(ref_dtype).requires_grad_(true); };
  widen(cpu.x);
  for (auto& t : cpu.a) widen(t);
  for (auto& t : cpu.b) widen(t);
  torch::Tensor y_cpu = GroupedLora(cpu.x, cpu.offsets, cpu.a, cpu.b, cpu.scaling);
  torch::Tensor y_gpu = GroupedLora(gpu.x, gpu.offsets, gpu.a, gpu.b, gpu.scaling);
  ASSERT_TRUE(y_gpu.is_cuda());
  ASSERT_EQ(y_gpu.scalar_type(), dtype);
  EXPECT_TRUE(Close(y_gpu, y_cpu, tol)) << "forward";
  if (strided_grad) {
    y_cpu.sum().backward();
    y_gpu.sum().backward();
  } else {
    torch::Tensor w = torch::randn(y_cpu.sizes());
    (y_cpu * w).sum().backward();
    (y_gpu * w.to(torch::kCUDA, dtype)).sum().backward();
  }
  EXPECT_TRUE(Close(gpu.x.grad(), cpu.x.grad(), tol)) << "dx";
  for (size_t k = 0; k < rows.size(); ++k) {
    EXPECT_TRUE(Close(gpu.a[k].grad(), cpu.a[k].grad(), tol)) << "da of trial " << k;
    EXPECT_TRUE(Close(gpu.b[k].grad(), cpu.b[k].grad(), tol)) << "db of trial " << k;
  }
}

TEST(GroupedLoraGpuTest, CudaMatchesTheCpuForMixedRanksAndEmptyTrials) {
  LF_SKIP_WITHOUT_CUDA();
  // Row counts and features that cut 64x64 tiles and 16-deep steps; ranks 1 to 64.
  const std::vector<int64_t> rows = {130, 0, 1, 70, 64, 0, 17};
  const std::vector<int64_t> ranks = {1, 8, 64, 16, 33, 2, 4};
  for (bool strided : {false, true}) {
    SCOPED_TRACE(strided ? "zero-stride gradient" : "dense gradient");
    ExpectCudaMatchesCpu(rows, ranks, 200, 130, strided);
  }
  ExpectCudaMatchesCpu({1000, 3}, {8, 64}, 64, 48, false);  // a long reduction for da and db
}

TEST(GroupedLoraGpuTest, MoreTrialsThanOneLaunchHolds) {
  LF_SKIP_WITHOUT_CUDA();
  std::vector<int64_t> rows, ranks;
  for (int64_t k = 0; k < 70; ++k) {
    rows.push_back(k % 5 == 0 ? 0 : 3 + k % 11);
    ranks.push_back(1 + k % 16);
  }
  ExpectCudaMatchesCpu(rows, ranks, 40, 24, false);
}

// Sends half precision to the tensor cores (where built) or to the SIMT kernel for one scope.
class ScopedTensorCores {
 public:
  explicit ScopedTensorCores(bool use) { UseGroupedLoraTensorCores(use); }
  ~ScopedTensorCores() { UseGroupedLoraTensorCores(true); }
};

// max |gpu - cpu| / max |cpu|: the error relative to the tensor's scale, which is what half
// precision's rounding is proportional to (elementwise tolerances fail on entries near zero).
double ScaledError(const torch::Tensor& gpu, const torch::Tensor& cpu) {
  if (!gpu.defined() || !cpu.defined()) return 1e9;  // a missing gradient fails the check
  const torch::Tensor ref = cpu.to(torch::kFloat64);
  if (ref.numel() == 0) return 0.0;
  const double scale = std::max(ref.abs().max().item<double>(), 1e-12);
  return (gpu.cpu().to(torch::kFloat64) - ref).abs().max().item<double>() / scale;
}

// Forward and every gradient in `dtype` on CUDA against the CPU in fp32 on the same (rounded)
// inputs, each within `tol` of its tensor's scale.
void ExpectScaledMatch(const std::vector<int64_t>& rows, const std::vector<int64_t>& ranks,
                       int64_t in, int64_t out, torch::Dtype dtype, double tol,
                       bool strided_grad = false) {
  Pack gpu = MakePack(rows, ranks, in, out, 11, torch::kCUDA, dtype);
  Pack cpu = MakePack(rows, ranks, in, out, 11, torch::kCPU, dtype);
  auto widen = [](torch::Tensor& t) { t = t.detach().to(torch::kFloat32).requires_grad_(true); };
  widen(cpu.x);
  for (auto& t : cpu.a) widen(t);
  for (auto& t : cpu.b) widen(t);
  torch::Tensor y_cpu = GroupedLora(cpu.x, cpu.offsets, cpu.a, cpu.b, cpu.scaling);
  torch::Tensor y_gpu = GroupedLora(gpu.x, gpu.offsets, gpu.a, gpu.b, gpu.scaling);
  ASSERT_EQ(y_gpu.scalar_type(), dtype);
  EXPECT_LE(ScaledError(y_gpu, y_cpu), tol) << "forward";
  if (strided_grad) {
    y_cpu.sum().backward();
    y_gpu.sum().backward();
  } else {
    torch::Tensor w = torch::randn(y_cpu.sizes()).to(dtype);  // the same rounded weights
    (y_cpu * w.to(torch::kFloat32)).sum().backward();
    (y_gpu * w.to(torch::kCUDA)).sum().backward();
  }
  EXPECT_LE(ScaledError(gpu.x.grad(), cpu.x.grad()), tol) << "dx";
  for (size_t k = 0; k < rows.size(); ++k) {
    EXPECT_LE(ScaledError(gpu.a[k].grad(), cpu.a[k].grad()), tol) << "da of trial " << k;
    EXPECT_LE(ScaledError(gpu.b[k].grad(), cpu.b[k].grad()), tol) << "db of trial " << k;
  }
}

// Tolerances, relative to each tensor's largest entry: bfloat16 keeps 8 significant bits
// (rounding 2^-9 = 0.2%), float16 11 (2^-12 = 0.024%); outputs and the x a^T (or s g b) between
// the two stages are rounded, accumulation is fp32. 2e-2 and 4e-3 leave about 5x that.
constexpr double kBf16Tol = 2e-2;
constexpr double kFp16Tol = 4e-3;

TEST(GroupedLoraGpuTest, TensorCoresMatchTheCpuForRanksFourToSixtyFourAndUnevenGroups) {
  LF_SKIP_WITHOUT_CUDA();
  if (!GroupedLoraHasTensorCorePath()) {
    std::cout << "[ NOTE     ] no tensor-core path (built with CUDA < 12.5, or the loaded "
                 "libcublas is older than 12.5): the SIMT kernel runs below\n";
  }
  // Row counts from 1 to 1000 and empty trials; features that are multiples of 8, so every
  // pointer is 16-byte aligned and cuBLAS takes every product.
  const std::vector<int64_t> rows = {1, 37, 256, 0, 129, 1000, 8};
  const std::vector<int64_t> ranks = {4, 8, 16, 32, 64, 64, 12};
  for (bool tensor_cores : {true, false}) {
    ScopedTensorCores scope(tensor_cores);
    SCOPED_TRACE(tensor_cores ? "tensor cores" : "SIMT kernel");
    for (torch::Dtype dtype : {torch::kBFloat16, torch::kFloat16}) {
      SCOPED_TRACE(c10::toString(dtype));
      const double tol = dtype == torch::kBFloat16 ? kBf16Tol : kFp16Tol;
      ExpectScaledMatch(rows, ranks, 256, 192, dtype, tol);
      // The sum's gradient has zero strides: cuBLAS cannot read it, the SIMT kernel takes it.
      ExpectScaledMatch({64, 3, 40}, {4, 64, 16}, 128, 64, dtype, tol, /*strided_grad=*/true);
      // Features that cut the SIMT kernel's 64x64 tiles.
      ExpectScaledMatch({33, 0, 80}, {4, 16, 64}, 96, 72, dtype, tol);
    }
  }
}

TEST(GroupedLoraGpuTest, TensorCoresLeaveUnalignedProductsToTheSimtKernel) {
  LF_SKIP_WITHOUT_CUDA();
  // 13 input and 7 output features: most trials' rows start off 16-byte boundaries, so one call
  // mixes cuBLAS products with SIMT ones; ranks 4 to 64 again.
  for (torch::Dtype dtype : {torch::kBFloat16, torch::kFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    ExpectScaledMatch({5, 16, 3, 0, 40, 9}, {4, 8, 64, 32, 16, 5}, 13, 7, dtype,
                      dtype == torch::kBFloat16 ? kBf16Tol : kFp16Tol);
  }
}

TEST(GroupedLoraGpuTest, DoubleFallsBackToTorchOnCuda) {
  LF_SKIP_WITHOUT_CUDA();
  ExpectCudaMatchesCpu({5, 9}, {2, 3}, 16, 8, false, torch::kFloat64, 1e-10);
}

}  // namespace
}  // namespace lf::kernels
