// Logging for every lorafleet process: one process-wide logger (spdlog underneath, so callers
// never include spdlog), fmt-style messages, levels settable from flags or LF_LOG_LEVEL.
// Thread-safe. Log lines go to stderr so stdout stays clean for `--json` output.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "common/status.h"

namespace lf::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// Parses "trace|debug|info|warn|error|off" (case-insensitive).
Result<Level> ParseLevel(std::string_view name);
void SetLevel(Level level);
Level GetLevel();
// Reads LF_LOG_LEVEL once; an invalid value is reported on stderr and ignored.
void InitFromEnvironment();

void Write(Level level, std::string_view message);

bool Enabled(Level level);

// Formatting (fmt syntax: "{} trials") happens only when the level is enabled.
template <typename... Args>
void Logf(Level level, fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(level)) Write(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace lf::log

#define LF_LOG(level, ...) ::lf::log::Logf(::lf::log::Level::level, __VA_ARGS__)
#define LF_LOG_DEBUG(...) LF_LOG(kDebug, __VA_ARGS__)
#define LF_LOG_INFO(...) LF_LOG(kInfo, __VA_ARGS__)
#define LF_LOG_WARN(...) LF_LOG(kWarn, __VA_ARGS__)
#define LF_LOG_ERROR(...) LF_LOG(kError, __VA_ARGS__)
