// grouped_lora_bench: what the grouped LoRA GEMM buys over the per-trial way. One layer's packed
// batch of --trials adapters (ranks cycling 4, 8, 16, 32, 64; --rows rows each), in the same run:
// the LoRA formula of worker/peft/lora.cpp trial by trial (two torch matmuls and a scale each,
// then a cat), then GroupedLora (kernels/grouped_lora.h); forward alone, and forward plus
// backward. Prints milliseconds per call, the loop/grouped ratio and the largest difference. On
// CUDA in float16/bfloat16 it also times GroupedLora on the SIMT kernel, so the tensor-core path
// (cuBLAS's grouped GEMM) is compared against both. Without a GPU it runs on the CPU at small
// sizes, where GroupedLora is the torch-mm reference: the ratio shows only the loop's overhead.
//
//   grouped_lora_bench [--device auto|cpu|cuda] [--dtype bf16|fp16|fp32] [--trials 16]
//                      [--rows N] [--in N] [--out N] [--iters N]
//   (defaults on CUDA: bf16, 512 rows, 4096 x 4096 features, 50 iterations; on the CPU: fp32,
//    32 rows, 256 x 256, 20 iterations)
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "common/flags.h"
#include "kernels/grouped_lora.h"

namespace {

using lf::kernels::GroupedLora;

constexpr int64_t kRanks[] = {4, 8, 16, 32, 64};

struct Options {
  std::string device = "auto";
  std::string dtype;  // empty: by device
  int64_t trials = 16;
  int64_t rows = 0;  // 0: by device
  int64_t in = 0;
  int64_t out = 0;
  int64_t iters = 0;
};

struct Pack {
  torch::Tensor x;
  std::vector<int64_t> offsets{0};
  std::vector<torch::Tensor> a, b;
  std::vector<double> scaling;
  torch::Tensor grad_out;
};

Pack MakePack(const Options& o, torch::Device device, torch::Dtype dtype) {
  torch::manual_seed(0);
  const auto opts = torch::TensorOptions(dtype).device(device);
  Pack p;
  for (int64_t k = 0; k < o.trials; ++k) {
    const int64_t rank = kRanks[k % std::size(kRanks)];
    p.offsets.push_back(p.offsets.back() + o.rows);
    p.a.push_back((torch::randn({rank, o.in}, opts) * 0.02).requires_grad_(true));
    p.b.push_back((torch::randn({o.out, rank}, opts) * 0.02).requires_grad_(true));
    p.scaling.push_back(16.0 / static_cast<double>(rank));
  }
  p.x = torch::randn({p.offsets.back(), o.in}, opts).requires_grad_(true);
  p.grad_out = torch::randn({p.offsets.back(), o.out}, opts);
  return p;
}

// The per-trial way: what a trainer without GroupedLora runs for one layer.
torch::Tensor Loop(const Pack& p) {
  std::vector<torch::Tensor> deltas;
  for (size_t k = 0; k < p.a.size(); ++k) {
    const torch::Tensor xk = p.x.narrow(0, p.offsets[k], p.offsets[k + 1] - p.offsets[k]);
    deltas.push_back(torch::matmul(torch::matmul(xk, p.a[k].t()), p.b[k].t()) * p.scaling[k]);
  }
  return torch::cat(deltas);
}

torch::Tensor Grouped(const Pack& p) { return GroupedLora(p.x, p.offsets, p.a, p.b, p.scaling); }

void Sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// Milliseconds per call of `fn` (after warm-up), with backward of <y, grad_out> when `backward`.
double TimeMs(const std::function<torch::Tensor()>& fn, const Pack& p, bool backward, int64_t iters,
              const torch::Device& device) {
  auto once = [&] {
    torch::Tensor y = fn();
    if (backward) y.backward(p.grad_out);  // gradients accumulate: the same cost for each way
  };
  for (int i = 0; i < 3; ++i) once();
  Sync(device);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) once();
  Sync(device);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
         static_cast<double>(iters);
}

double ScaledDiff(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor ref = b.to(torch::kFloat64);
  const double scale = std::max(ref.abs().max().item<double>(), 1e-12);
  return (a.to(torch::kFloat64) - ref).abs().max().item<double>() / scale;
}

int Run(Options o) {
  const bool cuda = o.device == "cuda" || (o.device == "auto" && torch::cuda::is_available());
  if (cuda && !torch::cuda::is_available()) {
    std::fprintf(stderr, "grouped_lora_bench: --device cuda, but LibTorch sees no CUDA device\n");
    return 1;
  }
  const torch::Device device = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (o.dtype.empty()) o.dtype = cuda ? "bf16" : "fp32";
  if (o.rows == 0) o.rows = cuda ? 512 : 32;
  if (o.in == 0) o.in = cuda ? 4096 : 256;
  if (o.out == 0) o.out = cuda ? 4096 : 256;
  if (o.iters == 0) o.iters = cuda ? 50 : 20;
  const torch::Dtype dtype = o.dtype == "bf16"   ? torch::kBFloat16
                             : o.dtype == "fp16" ? torch::kFloat16
                                                 : torch::kFloat32;
  if (!cuda && dtype != torch::kFloat32) {
    std::fprintf(stderr, "grouped_lora_bench: on the CPU only --dtype fp32 is measured\n");
    return 2;
  }
  const Pack p = MakePack(o, device, dtype);
  std::printf(
      "grouped_lora_bench: %s %s, %lld trials x %lld rows (ranks 4..64), %lld -> %lld "
      "features, %lld iterations\n",
      cuda ? "cuda" : "cpu", o.dtype.c_str(), static_cast<long long>(o.trials),
      static_cast<long long>(o.rows), static_cast<long long>(o.in), static_cast<long long>(o.out),
      static_cast<long long>(o.iters));
  const bool half = dtype != torch::kFloat32;
  const char* grouped_name = !cuda ? "GroupedLora (CPU reference)"
                             : half && lf::kernels::GroupedLoraHasTensorCorePath()
                                 ? "GroupedLora (tensor cores)"
                                 : "GroupedLora (SIMT kernel)";
  {
    torch::NoGradGuard no_grad;
    std::printf("  largest difference grouped vs loop: %.2e of the output's scale\n",
                ScaledDiff(Grouped(p), Loop(p)));
  }
  for (bool backward : {false, true}) {
    const char* pass = backward ? "forward+backward" : "forward";
    auto time = [&](const std::function<torch::Tensor()>& fn) {
      if (backward) return TimeMs(fn, p, true, o.iters, device);
      torch::NoGradGuard no_grad;
      return TimeMs(fn, p, false, o.iters, device);
    };
    const double loop_ms = time([&] { return Loop(p); });
    const double grouped_ms = time([&] { return Grouped(p); });
    std::printf(
        "  %-16s per-trial loop of torch matmuls %9.3f ms   %-28s %9.3f ms   "
        "loop/grouped %.2fx\n",
        pass, loop_ms, grouped_name, grouped_ms, loop_ms / grouped_ms);
    if (cuda && half && lf::kernels::GroupedLoraHasTensorCorePath()) {
      lf::kernels::UseGroupedLoraTensorCores(false);
      const double simt_ms = time([&] { return Grouped(p); });
      lf::kernels::UseGroupedLoraTensorCores(true);
      std::printf(
          "  %-16s GroupedLora (SIMT kernel) %9.3f ms   loop/SIMT %.2fx   "
          "SIMT/tensor cores %.2fx\n",
          pass, simt_ms, loop_ms / simt_ms, simt_ms / grouped_ms);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto app = lf::flags::MakeApp("grouped_lora_bench",
                                "GroupedLora against a per-trial loop of torch matmuls");
  app->add_option("--device", o.device, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app->add_option("--dtype", o.dtype, "bf16, fp16 or fp32 (default: bf16 on CUDA, fp32 on CPU)")
      ->check(CLI::IsMember({"bf16", "fp16", "fp32"}));
  app->add_option("--trials", o.trials, "adapters in the pack")->check(lf::flags::IntAtLeast(1));
  app->add_option("--rows", o.rows, "rows (tokens) per trial")->check(lf::flags::IntAtLeast(1));
  app->add_option("--in", o.in, "input features")->check(lf::flags::IntAtLeast(1));
  app->add_option("--out", o.out, "output features")->check(lf::flags::IntAtLeast(1));
  app->add_option("--iters", o.iters, "timed calls per way")->check(lf::flags::IntAtLeast(1));
  if (std::optional<int> rc = lf::flags::Parse(*app, argc, argv)) return *rc;
  try {
    return Run(o);
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "grouped_lora_bench: %s\n", e.what_without_backtrace());
    return 1;
  }
}
