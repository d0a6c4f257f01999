#include "bench/bench_support.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

// The only #if of the benchmarks: device memory comes from the CUDA caching allocator when this
// LibTorch was built with CUDA (bench/CMakeLists.txt defines LF_BENCH_CUDA_STATS then).
#if LF_BENCH_CUDA_STATS
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace lf::bench {

namespace fs = std::filesystem;

std::string BenchDir() { return LF_BENCH_SRCDIR; }

Result<std::string> ModelFolder(const std::string& name_or_dir) {
  const fs::path preset = fs::path(BenchDir()) / "models" / name_or_dir;
  if (fs::exists(preset / "config.json")) return preset.string();
  if (fs::exists(fs::path(name_or_dir) / "config.json")) return name_or_dir;
  std::string names;
  for (const auto& entry : fs::directory_iterator(fs::path(BenchDir()) / "models")) {
    names += (names.empty() ? "" : ", ") + entry.path().filename().string();
  }
  return NotFound("model '" + name_or_dir + "': neither a shape in bench/models (" + names +
                  ") nor a folder with a config.json");
}

std::vector<std::string> AllLinearTargets(const worker::ModelConfig& config) {
  // A one-layer model of the same architecture names the same modules, without the cost.
  worker::ModelConfig one = config;
  one.layers = 1;
  one.vocab_size = 8;
  one.sliding_layers.clear();
  auto model = worker::NewCausalLm(one, 0);
  LF_CHECK_MSG(model.ok(), "a one-layer copy of the model: " + model.status().ToString());
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const worker::LinearModule* m : (*model)->LinearModules()) {
    const std::string suffix = m->name.substr(m->name.rfind('.') + 1);
    if (seen.insert(suffix).second) out.push_back(suffix);
  }
  return out;
}

FlopCount CountFlops(worker::CausalLm& model, int64_t adapter_params, bool full, int64_t seq) {
  const worker::ModelConfig& c = model.config();
  int64_t matmul = c.vocab_size * c.hidden;  // the LM head (tied or not)
  for (const worker::LinearModule* m : model.LinearModules()) {
    matmul += m->in_features() * m->out_features();
  }
  FlopCount f;
  f.trainable_matmul_params = full ? matmul : adapter_params;
  f.frozen_matmul_params = full ? 0 : matmul;
  f.attention_per_token = 6.0 * static_cast<double>(c.layers) * static_cast<double>(seq) *
                          static_cast<double>(c.heads * c.head_dim);
  return f;
}

#if LF_BENCH_CUDA_STATS
bool DeviceStatsAvailable() { return c10::cuda::device_count() > 0; }
void ResetDevicePeak() {
  if (DeviceStatsAvailable()) c10::cuda::CUDACachingAllocator::resetPeakStats(0);
}
int64_t DevicePeakBytes() {
  if (!DeviceStatsAvailable()) return 0;
  // allocated_bytes[0]: the aggregate over pools, torch.cuda.max_memory_allocated()'s figure.
  return c10::cuda::CUDACachingAllocator::getDeviceStats(0).allocated_bytes[0].peak;
}
#else
bool DeviceStatsAvailable() { return false; }
void ResetDevicePeak() {}
int64_t DevicePeakBytes() { return 0; }
#endif

std::string DeviceName(const torch::Device& device) {
  if (!device.is_cuda()) return "cpu";
  // nvidia-smi's name, where it is there; torch's C++ API has no device-name call.
  FILE* pipe = popen("nvidia-smi --query-gpu=name --format=csv,noheader -i 0 2>/dev/null", "r");
  std::string name;
  if (pipe != nullptr) {
    char buf[256];
    while (fgets(buf, sizeof(buf), pipe) != nullptr) name += buf;
    pclose(pipe);
  }
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  return name.empty() ? "cuda" : name;
}

Result<Json> RunForJson(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return Internal("cannot start: " + command);
  std::string output;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  const int rc = pclose(pipe);
  if (rc != 0) {
    return Internal("'" + command + "' failed (exit status " + std::to_string(rc) +
                    "); its messages are above");
  }
  while (!output.empty() && output.back() == '\n') output.pop_back();
  const std::string last =
      output.substr(output.rfind('\n') == std::string::npos ? 0 : output.rfind('\n') + 1);
  Json j = Json::parse(last, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Internal("'" + command + "' printed no JSON object on its last line: '" + last + "'");
  }
  return j;
}

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string JoinList(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  in >> one;
  return one;
}

}  // namespace lf::bench
