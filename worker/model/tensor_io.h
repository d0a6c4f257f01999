// Moving tensors between safetensors files and LibTorch: base model weights in, adapters and
// merged models out. Loading copies into memory torch owns (so the tensor is writable and
// outlives the file) unless ViewTensor is asked for. Thread-safe (no shared state).
#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

#include "common/safetensors.h"
#include "common/status.h"

namespace lf::worker {

Result<c10::ScalarType> ToTorchDType(safetensors::DType dtype);
Result<safetensors::DType> FromTorchDType(c10::ScalarType dtype);

// A CPU tensor holding a copy of the named tensor's data.
Result<torch::Tensor> LoadTensor(const safetensors::File& file, std::string_view name);
// Shares the file's memory without copying (the tensor keeps the File alive). The tensor is
// read-only: writing to it faults when the file is memory-mapped. Falls back to a copy when the
// data is not aligned for its dtype.
Result<torch::Tensor> ViewTensor(const safetensors::File& file, std::string_view name);
// Every tensor in the file, copied, by name.
Result<std::map<std::string, torch::Tensor>> LoadAllTensors(const safetensors::File& file);

// Writes CPU or GPU tensors (any layout; they are made contiguous on the CPU first) to `path`
// atomically, with the given metadata ({"format":"pt"} as Hugging Face writes it by default).
Status SaveTensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path,
                   std::map<std::string, std::string> metadata = {{"format", "pt"}});
// The same file's bytes in memory (adapters go to the store this way).
Result<std::string> SerializeTensors(const std::map<std::string, torch::Tensor>& tensors,
                                     std::map<std::string, std::string> metadata = {
                                         {"format", "pt"}});

}  // namespace lf::worker
