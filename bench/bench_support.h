// What the training benchmarks (train_bench, pack_bench) share: the model shapes they train
// (bench/models/<name>/config.json, random weights), every linear layer's name as LoRA targets,
// the FLOP count behind MFU, the device's peak memory, and running a child process or the
// Hugging Face peer (bench/hf_peer.py) and reading the JSON line it prints last.
// Single-threaded helpers; nothing here is used outside bench/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/json_reader.h"
#include "common/status.h"
#include "worker/model/causal_lm.h"
#include "worker/model/model_config.h"

namespace lf::bench {

// bench/ in the source tree, where models/ and hf_peer.py are.
std::string BenchDir();

// A model shape by name (gpt2-small, llama-110m, llama-3.2-1b: bench/models/<name>) or a folder
// holding a Hugging Face config.json. Returns the folder.
Result<std::string> ModelFolder(const std::string& name_or_dir);

// Every linear layer of the architecture's decoder blocks, as PEFT's target_modules names them
// (what target_modules="all-linear" picks, which excludes the LM head).
std::vector<std::string> AllLinearTargets(const worker::ModelConfig& config);

// Training FLOPs per token, counted as 6 per trainable matmul parameter (forward, and both
// gradients), 4 per frozen one (forward, and the gradient of its input), and causal attention
// 6 · layers · seq · heads · head_dim (QKᵀ and AV over half the sequence on average, forward and
// backward). Matmul parameters are the linear layers' weights and the LM head's (embedding
// lookups, norms and biases cost no matmul).
struct FlopCount {
  int64_t trainable_matmul_params = 0;
  int64_t frozen_matmul_params = 0;
  double attention_per_token = 0;
  double per_token() const {
    return 6.0 * static_cast<double>(trainable_matmul_params) +
           4.0 * static_cast<double>(frozen_matmul_params) + attention_per_token;
  }
};
// `adapter_params`: the adapter's trainable values (0 for full fine-tuning, `full` true).
FlopCount CountFlops(worker::CausalLm& model, int64_t adapter_params, bool full, int64_t seq);
inline constexpr const char* kFlopFormula =
    "6*N_trainable + 4*N_frozen_matmul + 6*layers*seq*heads*head_dim (causal attention)";
// H200 SXM dense bf16: the datasheet's figure, and what an 8192^3 bf16 matmul reached on the
// device machine (docs/benchmarks.md). MFU is reported against the datasheet's.
inline constexpr double kH200Bf16PeakSpec = 989e12;
inline constexpr double kH200Bf16PeakMeasured = 790e12;

// The CUDA caching allocator's peak of allocated bytes since the last reset (device 0); 0 when
// this LibTorch has no CUDA.
void ResetDevicePeak();
int64_t DevicePeakBytes();
bool DeviceStatsAvailable();
std::string DeviceName(const torch::Device& device);

// Runs `command` (through sh), passes its stderr through, and parses the last line of its stdout
// as JSON. An error names the command and its exit status.
Result<Json> RunForJson(const std::string& command);

// "a,b,c" -> {"a", "b", "c"}
std::vector<std::string> SplitList(const std::string& list);
std::string JoinList(const std::vector<std::string>& items);
// /proc/loadavg's 1-minute figure (0 where there is none): the docs report it beside CPU timings.
double LoadAverage();

}  // namespace lf::bench
