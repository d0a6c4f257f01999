#include "cli/commands/table.h"

#include <cmath>
#include <cstdio>
#include <ctime>

#include "common/status.h"

namespace lf::cli {
namespace {

std::string Pad(const std::string& text, size_t width, Align align) {
  const size_t w = DisplayWidth(text);
  if (w >= width) return text;
  const std::string fill(width - w, ' ');
  return align == Align::kRight ? fill + text : text + fill;
}

void TrimTrailingSpaces(std::string& line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
}

}  // namespace

void Table::AddRow(std::vector<std::string> cells) {
  LF_CHECK_MSG(cells.size() == columns_.size(), "a row has " + std::to_string(cells.size()) +
                                                    " cells for " +
                                                    std::to_string(columns_.size()) + " columns");
  rows_.push_back(std::move(cells));
}

std::string Table::RenderText() const {
  std::vector<size_t> widths(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = DisplayWidth(columns_[c].header);
    for (const auto& row : rows_) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
  }
  auto render_line = [&](auto cell_of) {
    std::string line;
    for (size_t c = 0; c < columns_.size(); ++c) {
      if (c > 0) line += "  ";
      line += Pad(cell_of(c), widths[c], columns_[c].align);
    }
    TrimTrailingSpaces(line);
    return line + "\n";
  };
  std::string out = render_line([&](size_t c) { return columns_[c].header; });
  for (const auto& row : rows_) out += render_line([&](size_t c) { return row[c]; });
  return out;
}

std::string Table::RenderCsv() const {
  std::string out;
  auto add_line = [&](auto cell_of) {
    for (size_t c = 0; c < columns_.size(); ++c) {
      if (c > 0) out += ',';
      out += CsvField(cell_of(c));
    }
    out += "\n";
  };
  add_line([&](size_t c) { return columns_[c].header; });
  for (const auto& row : rows_) add_line([&](size_t c) { return row[c]; });
  return out;
}

std::string Table::RenderMarkdown() const {
  std::string out = "|";
  for (const auto& col : columns_) out += " " + MarkdownCell(col.header) + " |";
  out += "\n|";
  for (const auto& col : columns_) out += col.align == Align::kRight ? " ---: |" : " --- |";
  out += "\n";
  for (const auto& row : rows_) {
    out += "|";
    for (const auto& cell : row) out += " " + MarkdownCell(cell) + " |";
    out += "\n";
  }
  return out;
}

size_t DisplayWidth(std::string_view text) {
  size_t n = 0;
  for (unsigned char ch : text) {
    if ((ch & 0xC0) != 0x80) ++n;  // count every byte that is not a continuation byte
  }
  return n;
}

std::string Truncate(std::string_view text, size_t width) {
  if (DisplayWidth(text) <= width) return std::string(text);
  if (width == 0) return "";
  size_t kept = 0, pos = 0;
  while (pos < text.size()) {
    size_t next = pos + 1;
    while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
    if (kept + 1 == width) break;
    ++kept;
    pos = next;
  }
  return std::string(text.substr(0, pos)) + "…";
}

std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char ch : text) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

std::string MarkdownCell(std::string_view text) {
  std::string out;
  for (char ch : text) {
    if (ch == '|' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n' || ch == '\r') {
      out += ' ';
    } else {
      out += ch;
    }
  }
  return out;
}

std::string FormatFixed(const Json& value, int decimals) {
  if (!value.is_number()) return "-";
  const double v = value.get<double>();
  if (!std::isfinite(v)) return v > 0 ? "inf" : (v < 0 ? "-inf" : "nan");
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

std::string FormatInt(const Json& value) {
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  if (value.is_number()) return FormatFixed(value, 0);
  return "-";
}

std::string FormatMb(const Json& bytes) {
  if (!bytes.is_number()) return "-";
  const double mb = bytes.get<double>() / 1e6;
  // Small adapters (a few KB) would all read 0.00.
  return FormatFixed(Json(mb), mb > 0 && mb < 0.1 ? 4 : 2);
}

std::string FormatBytes(double bytes) {
  char buf[32];
  if (bytes < 1e3) {
    std::snprintf(buf, sizeof(buf), "%.0f B", bytes);
  } else if (bytes < 1e6) {
    std::snprintf(buf, sizeof(buf), "%.1f KB", bytes / 1e3);
  } else if (bytes < 1e9) {
    std::snprintf(buf, sizeof(buf), "%.1f MB", bytes / 1e6);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f GB", bytes / 1e9);
  }
  return buf;
}

std::string FormatLocalTime(int64_t millis_since_epoch) {
  if (millis_since_epoch <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(millis_since_epoch / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string FormatValue(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string FormatParams(const Json& params) {
  if (!params.is_object()) return "";
  std::string out;
  for (const auto& [key, value] : params.items()) {
    if (!out.empty()) out += ' ';
    out += key + "=" + FormatValue(value);
  }
  return out;
}

const Json& Member(const Json& object, std::string_view key) {
  static const Json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string StringMember(const Json& object, std::string_view key, std::string fallback) {
  const Json& v = Member(object, key);
  return v.is_string() ? v.get<std::string>() : std::move(fallback);
}

double NumberMember(const Json& object, std::string_view key, double fallback) {
  const Json& v = Member(object, key);
  return v.is_number() ? v.get<double>() : fallback;
}

}  // namespace lf::cli
