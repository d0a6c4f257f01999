// One name table per enum, {value, name} pairs in a constexpr array: the Name function, the
// parser and the "expected one of ..." list of an error all read the same table, so a name is
// written once. Header-only; used by jobs/*.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/json_reader.h"

namespace lf::jobs::internal {

template <typename E>
using EnumName = std::pair<E, std::string_view>;

template <typename E, size_t N>
std::string_view NameOf(E value, const EnumName<E> (&names)[N]) {
  for (const auto& [v, n] : names) {
    if (v == value) return n;
  }
  return "?";
}

template <typename E, size_t N>
std::optional<E> ValueOf(std::string_view name, const EnumName<E> (&names)[N]) {
  for (const auto& [v, n] : names) {
    if (n == name) return v;
  }
  return std::nullopt;
}

// "a, b, c": the names, for error messages.
template <typename E, size_t N>
std::string NameList(const EnumName<E> (&names)[N]) {
  std::string out;
  for (const auto& [v, n] : names) (out += out.empty() ? "" : ", ") += n;
  return out;
}

// The value named by field `f`; a bad name is an error at the field listing the names.
template <typename E, size_t N>
Result<E> ParseEnum(const JsonField& f, const EnumName<E> (&names)[N]) {
  LF_ASSIGN_OR_RETURN(std::string name, f.String());
  if (auto value = ValueOf(name, names)) return *value;
  return f.Error("expected one of " + NameList(names) + ", got \"" + name + "\"");
}

}  // namespace lf::jobs::internal
