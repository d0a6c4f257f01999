#include "common/utf8.h"

#include <cstdint>
#include <cstring>

namespace lf::utf8 {
namespace {

// Length of the well-formed sequence that starts at text[i], or 0 when it is ill-formed; then
// *bad gets the length of its maximal subpart, the bytes one U+FFFD replaces (at least 1).
// The ranges are those of table 3-7 of the Unicode standard, which Python follows.
size_t SequenceLength(std::string_view text, size_t i, size_t* bad) {
  const auto lead = static_cast<uint8_t>(text[i]);
  if (lead < 0x80) return 1;
  size_t need = 0;
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    if (lead == 0xE0) lo = 0xA0;  // below: overlong
    if (lead == 0xED) hi = 0x9F;  // above: surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    if (lead == 0xF0) lo = 0x90;  // below: overlong
    if (lead == 0xF4) hi = 0x8F;  // above: past U+10FFFF
  } else {
    *bad = 1;
    return 0;
  }
  size_t k = 1;
  for (size_t j = 0; j < need; ++j, ++k) {
    if (i + k >= text.size()) break;
    const auto c = static_cast<uint8_t>(text[i + k]);
    if (c < (j == 0 ? lo : 0x80) || c > (j == 0 ? hi : 0xBF)) break;
  }
  if (k == need + 1) return k;
  *bad = k;
  return 0;
}

// Bytes from `i` on that are ASCII, checked eight at a time.
size_t AsciiRun(std::string_view text, size_t i) {
  const size_t start = i;
  while (i + 8 <= text.size()) {
    uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    if (word & 0x8080808080808080ULL) break;
    i += 8;
  }
  while (i < text.size() && static_cast<uint8_t>(text[i]) < 0x80) ++i;
  return i - start;
}

}  // namespace

size_t FindInvalid(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    i += AsciiRun(text, i);
    if (i >= text.size()) break;
    size_t bad = 0;
    size_t n = SequenceLength(text, i, &bad);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

bool IsValid(std::string_view text) { return FindInvalid(text) == std::string_view::npos; }

std::string ReplaceInvalid(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  size_t i = 0;
  while (i < text.size()) {
    size_t ascii = AsciiRun(text, i);
    out.append(text.substr(i, ascii));
    i += ascii;
    if (i >= text.size()) break;
    size_t bad = 0;
    size_t n = SequenceLength(text, i, &bad);
    if (n > 0) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      Append(out, kReplacementChar);
      i += bad;
    }
  }
  return out;
}

char32_t Next(std::string_view text, size_t& pos) {
  const auto b0 = static_cast<uint8_t>(text[pos]);
  auto cont = [&](size_t k) {
    return static_cast<char32_t>(static_cast<uint8_t>(text[pos + k]) & 0x3F);
  };
  char32_t cp;
  size_t n;
  if (b0 < 0x80) {
    cp = b0;
    n = 1;
  } else if (b0 < 0xE0) {
    cp = (static_cast<char32_t>(b0 & 0x1F) << 6) | cont(1);
    n = 2;
  } else if (b0 < 0xF0) {
    cp = (static_cast<char32_t>(b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2);
    n = 3;
  } else {
    cp = (static_cast<char32_t>(b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
    n = 4;
  }
  pos += n;
  return cp;
}

char32_t Previous(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
  return Next(text, start);
}

void Append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsWhitespace(char32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace lf::utf8
