// The parts of the safetensors format shared by the reader and the writer: dtypes, sizes, UTF-8.
#include "common/safetensors.h"

#include <limits>
#include <string>

namespace lf::safetensors {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
};

// Names as the reference crate spells them in headers.
// clang-format off
constexpr std::array<DTypeInfo, kAllDTypes.size()> kDTypeInfo = {{
    {DType::kF64, "F64", 8},        {DType::kF32, "F32", 4},
    {DType::kF16, "F16", 2},        {DType::kBF16, "BF16", 2},
    {DType::kI64, "I64", 8},        {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},        {DType::kI8, "I8", 1},
    {DType::kU64, "U64", 8},        {DType::kU32, "U32", 4},
    {DType::kU16, "U16", 2},        {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},      {DType::kF8E4M3, "F8_E4M3", 1},
    {DType::kF8E5M2, "F8_E5M2", 1},
}};
// clang-format on

const DTypeInfo& Info(DType dtype) {
  const auto index = static_cast<size_t>(dtype);
  LF_CHECK_MSG(index < kDTypeInfo.size() && kDTypeInfo[index].dtype == dtype,
               "DType value " + std::to_string(index) + " is not in the table");
  return kDTypeInfo[index];
}

}  // namespace

std::string_view DTypeName(DType dtype) { return Info(dtype).name; }

size_t DTypeSize(DType dtype) { return Info(dtype).size; }

Result<DType> ParseDType(std::string_view name) {
  std::string known;
  for (const DTypeInfo& info : kDTypeInfo) {
    if (info.name == name) return info.dtype;
    if (!known.empty()) known += ", ";
    known += info.name;
  }
  return InvalidArgument("unknown dtype \"" + std::string(name) + "\"; known dtypes: " + known);
}

Result<size_t> TensorByteSize(DType dtype, std::span<const int64_t> shape) {
  // Elements are counted in int64 so that TensorView::numel() can never overflow either.
  int64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return InvalidArgument("dimension " + std::to_string(i) + " is negative (" +
                             std::to_string(shape[i]) + ")");
    }
    if (shape[i] != 0 && numel > std::numeric_limits<int64_t>::max() / shape[i]) {
      return InvalidArgument("the element count overflows 64 bits at dimension " +
                             std::to_string(i));
    }
    numel *= shape[i];
  }
  const size_t elem = DTypeSize(dtype);
  if (static_cast<uint64_t>(numel) > std::numeric_limits<size_t>::max() / elem) {
    return InvalidArgument("the byte size (" + std::to_string(numel) + " elements of " +
                           std::to_string(elem) + " bytes) overflows");
  }
  return static_cast<size_t>(numel) * elem;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // the reader and writer proved this fits
  return n;
}

}  // namespace lf::safetensors
