#include "worker/agent/device.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/logging.h"

namespace lf::worker {
namespace {

constexpr std::string_view kCudaPrefix = "cuda:";

// The CUDA device index in "cuda:N", or -1 for the CPU.
int CudaIndex(const std::string& device) {
  if (device.rfind(kCudaPrefix, 0) != 0) return -1;
  return std::stoi(device.substr(kCudaPrefix.size()));
}

}  // namespace

Status ChooseDevice(std::string_view requested, WorkerIdentity* identity) {
  if (requested != "cpu" && requested != "auto") {
    return InvalidArgument("--device '" + std::string(requested) + "': expected cpu or auto");
  }
  const int32_t ranks_here = std::max<int32_t>(1, identity->local_size);
  const int32_t hardware = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  identity->threads = CpuThreads(hardware, ranks_here, std::getenv("OMP_NUM_THREADS"));
  size_t gpus = 0;
  try {
    if (requested == "auto" && torch::cuda::is_available()) gpus = torch::cuda::device_count();
  } catch (const c10::Error& e) {
    LF_LOG_WARN("CUDA is present but unusable ({}); training on the CPU",
                e.what_without_backtrace());
    gpus = 0;
  }
  if (gpus == 0) {
    identity->device = "cpu";
    identity->memory_bytes = TotalRamBytes() / ranks_here;
    return Status::Ok();
  }
  identity->device =
      std::string(kCudaPrefix) + std::to_string(static_cast<size_t>(identity->local_rank) % gpus);
  // LibTorch's C++ API has no call for a device's total memory without the CUDA runtime headers,
  // which the CPU build (what CI runs) does not have; the coordinator treats 0 as "unknown".
  identity->memory_bytes = 0;
  return Status::Ok();
}

int32_t CpuThreads(int32_t hardware, int32_t ranks_here, const char* omp_num_threads) {
  if (omp_num_threads != nullptr) {
    char* end = nullptr;
    const long n = std::strtol(omp_num_threads, &end, 10);
    if (end != omp_num_threads && *end == '\0' && n >= 1 && n <= 4096) {
      return static_cast<int32_t>(n);
    }
  }
  return std::max<int32_t>(1, hardware / std::max<int32_t>(1, ranks_here));
}

void ConfigureTrainingThread(const WorkerIdentity& identity) {
  torch::set_num_threads(identity.threads);
  const int cuda = CudaIndex(identity.device);
  if (cuda < 0) return;
  try {
    c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)
        ->setDevice(c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(cuda)));
  } catch (const c10::Error& e) {
    LF_LOG_WARN("selecting {}: {}", identity.device, e.what_without_backtrace());
  }
}

}  // namespace lf::worker
