#include "worker/model/tensor_io.h"

#include <cstring>

#include "worker/torch_compat.h"

namespace lf::worker {
namespace {

using safetensors::DType;

Status Unsupported(DType dtype) {
  return Unimplemented("safetensors dtype " + std::string(safetensors::DTypeName(dtype)) +
                       " has no tensor type in LibTorch " + std::to_string(torch_compat::kMajor) +
                       "." + std::to_string(torch_compat::kMinor) +
                       "; convert the file to F32, F16 or BF16");
}

std::vector<int64_t> Shape(const safetensors::TensorView& view) { return view.shape; }

// Builds the writer for `tensors`; `keep` holds the contiguous CPU copies the writer borrows.
Result<safetensors::Writer> MakeWriter(const std::map<std::string, torch::Tensor>& tensors,
                                       std::map<std::string, std::string> metadata,
                                       std::vector<torch::Tensor>* keep) {
  safetensors::Writer writer(std::move(metadata));
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) return InvalidArgument("tensor '" + name + "' is undefined");
    LF_ASSIGN_OR_RETURN(DType dtype, FromTorchDType(tensor.scalar_type()));
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    keep->push_back(cpu);
    std::span<const std::byte> data(static_cast<const std::byte*>(cpu.data_ptr()),
                                    cpu.numel() * cpu.element_size());
    LF_RETURN_IF_ERROR(writer.AddView(name, dtype, cpu.sizes().vec(), data));
  }
  return writer;
}

}  // namespace

Result<c10::ScalarType> ToTorchDType(DType dtype) {
  std::optional<c10::ScalarType> t;
  switch (dtype) {
    case DType::kF64: t = c10::ScalarType::Double; break;
    case DType::kF32: t = c10::ScalarType::Float; break;
    case DType::kF16: t = c10::ScalarType::Half; break;
    case DType::kBF16: t = c10::ScalarType::BFloat16; break;
    case DType::kI64: t = c10::ScalarType::Long; break;
    case DType::kI32: t = c10::ScalarType::Int; break;
    case DType::kI16: t = c10::ScalarType::Short; break;
    case DType::kI8: t = c10::ScalarType::Char; break;
    case DType::kU8: t = c10::ScalarType::Byte; break;
    case DType::kBool: t = c10::ScalarType::Bool; break;
    case DType::kU16: t = torch_compat::UInt16Type(); break;
    case DType::kU32: t = torch_compat::UInt32Type(); break;
    case DType::kU64: t = torch_compat::UInt64Type(); break;
    case DType::kF8E4M3: t = torch_compat::Float8E4M3Type(); break;
    case DType::kF8E5M2: t = torch_compat::Float8E5M2Type(); break;
  }
  if (!t) return Unsupported(dtype);
  return *t;
}

Result<DType> FromTorchDType(c10::ScalarType dtype) {
  for (DType d : safetensors::kAllDTypes) {
    Result<c10::ScalarType> t = ToTorchDType(d);
    if (t.ok() && *t == dtype) return d;
  }
  return InvalidArgument(std::string("tensor type ") + c10::toString(dtype) +
                         " cannot be stored in safetensors");
}

Result<torch::Tensor> LoadTensor(const safetensors::File& file, std::string_view name) {
  LF_ASSIGN_OR_RETURN(safetensors::TensorView view, file.Get(name));
  LF_ASSIGN_OR_RETURN(c10::ScalarType type, ToTorchDType(view.dtype));
  torch::Tensor out = torch::empty(Shape(view), torch::TensorOptions().dtype(type));
  if (!view.data.empty()) std::memcpy(out.data_ptr(), view.data.data(), view.data.size());
  return out;
}

Result<torch::Tensor> ViewTensor(const safetensors::File& file, std::string_view name) {
  LF_ASSIGN_OR_RETURN(safetensors::TensorView view, file.Get(name));
  LF_ASSIGN_OR_RETURN(c10::ScalarType type, ToTorchDType(view.dtype));
  const auto address = reinterpret_cast<uintptr_t>(view.data.data());
  if (view.data.empty() || address % safetensors::DTypeSize(view.dtype) != 0) {
    return LoadTensor(file, name);
  }
  auto keep_alive = std::make_shared<safetensors::File>(file);
  return torch::from_blob(const_cast<std::byte*>(view.data.data()), Shape(view),
                          [keep_alive](void*) mutable { keep_alive.reset(); },
                          torch::TensorOptions().dtype(type));
}

Result<std::map<std::string, torch::Tensor>> LoadAllTensors(const safetensors::File& file) {
  std::map<std::string, torch::Tensor> out;
  for (const safetensors::TensorView& view : file.tensors()) {
    LF_ASSIGN_OR_RETURN(out[view.name], LoadTensor(file, view.name));
  }
  return out;
}

Status SaveTensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path,
                   std::map<std::string, std::string> metadata) {
  std::vector<torch::Tensor> keep;
  LF_ASSIGN_OR_RETURN(safetensors::Writer writer, MakeWriter(tensors, std::move(metadata), &keep));
  return writer.WriteFile(path);
}

Result<std::string> SerializeTensors(const std::map<std::string, torch::Tensor>& tensors,
                                     std::map<std::string, std::string> metadata) {
  std::vector<torch::Tensor> keep;
  LF_ASSIGN_OR_RETURN(safetensors::Writer writer, MakeWriter(tensors, std::move(metadata), &keep));
  return writer.Serialize();
}

}  // namespace lf::worker
