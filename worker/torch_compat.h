// The one place where lorafleet adapts to differences between LibTorch versions: Debian's 1.13
// (CPU; what CI builds) and the PyTorch package's 2.x (GPU machines). Code elsewhere asks these
// helpers instead of testing TORCH_VERSION itself.
#pragma once

#include <torch/torch.h>
#include <torch/version.h>

#include <optional>

#define LF_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||     \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace lf::torch_compat {

inline constexpr int kMajor = TORCH_VERSION_MAJOR;
inline constexpr int kMinor = TORCH_VERSION_MINOR;

// Unsigned 16/32/64-bit tensors arrived in LibTorch 2.3, float8 types in 2.1.
inline std::optional<c10::ScalarType> UInt16Type() {
#if LF_TORCH_AT_LEAST(2, 3)
  return c10::ScalarType::UInt16;
#else
  return std::nullopt;
#endif
}
inline std::optional<c10::ScalarType> UInt32Type() {
#if LF_TORCH_AT_LEAST(2, 3)
  return c10::ScalarType::UInt32;
#else
  return std::nullopt;
#endif
}
inline std::optional<c10::ScalarType> UInt64Type() {
#if LF_TORCH_AT_LEAST(2, 3)
  return c10::ScalarType::UInt64;
#else
  return std::nullopt;
#endif
}
inline std::optional<c10::ScalarType> Float8E4M3Type() {
#if LF_TORCH_AT_LEAST(2, 1)
  return c10::ScalarType::Float8_e4m3fn;
#else
  return std::nullopt;
#endif
}
inline std::optional<c10::ScalarType> Float8E5M2Type() {
#if LF_TORCH_AT_LEAST(2, 1)
  return c10::ScalarType::Float8_e5m2;
#else
  return std::nullopt;
#endif
}

}  // namespace lf::torch_compat
