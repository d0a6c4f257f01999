// How the CLI shows lists: a table of strings rendered as aligned text (column widths fitted to
// the widest cell), CSV (RFC 4180 quoting) or a GitHub Markdown table ('|' escaped), plus the
// small formatters that turn API numbers into cells ("-" where a value is missing or null).
// Pure functions and values: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_reader.h"

namespace lf::cli {

enum class Align { kLeft, kRight };

struct Column {
  std::string header;
  Align align = Align::kLeft;
};

class Table {
 public:
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

  // A row must have one cell per column (a bug otherwise: LF_CHECK).
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  const std::vector<Column>& columns() const { return columns_; }

  // Header, then one line per row; columns separated by two spaces; no trailing spaces.
  std::string RenderText() const;
  std::string RenderCsv() const;
  std::string RenderMarkdown() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Display width of UTF-8 text: its code points (no East Asian wide-character rules).
size_t DisplayWidth(std::string_view text);
// `text` cut to `width` code points, the last one replaced by "…" when cut.
std::string Truncate(std::string_view text, size_t width);

std::string CsvField(std::string_view text);
std::string MarkdownCell(std::string_view text);

// A number with `decimals` places; "-" when `value` is null, missing or not a number.
std::string FormatFixed(const Json& value, int decimals);
// An integer ("-" when absent); a double is rounded.
std::string FormatInt(const Json& value);
// Bytes as megabytes with two decimals ("1.23"; four below 0.1 MB: "0.0015"), "-" when absent.
std::string FormatMb(const Json& bytes);
// Bytes with a unit: "512 B", "3.4 KB", "12.0 MB", "7.5 GB".
std::string FormatBytes(double bytes);
// A wall-clock time in the local time zone: "2026-05-01 12:03:04"; "-" for 0 or less.
std::string FormatLocalTime(int64_t millis_since_epoch);
// A parameter value as a user writes it: numbers and booleans as JSON, strings unquoted,
// lists and objects as compact JSON.
std::string FormatValue(const Json& value);
// {"lora.r": 4, "train.lr": 0.002} -> "lora.r=4 train.lr=0.002" (keys in the object's order).
std::string FormatParams(const Json& params);
// A member of a JSON object, or null when `object` is not an object or lacks it.
const Json& Member(const Json& object, std::string_view key);
// A string member, or `fallback` when it is absent or not a string.
std::string StringMember(const Json& object, std::string_view key, std::string fallback = "");
// A numeric member as double, or `fallback`.
double NumberMember(const Json& object, std::string_view key, double fallback = 0);

}  // namespace lf::cli
