#include "worker/tokenizer/byte_level.h"

#include <array>

#include "common/utf8.h"
#include "worker/tokenizer/pattern.h"

namespace lf::worker {
namespace {

// bytes_to_unicode() of GPT-2's encoder.py: the 188 printable bytes map to themselves, the other
// 68 to U+0100..U+0143 in byte order. Every mapped code point is below 324.
constexpr char32_t kMaxMapped = 0x144;
struct ByteTables {
  std::array<std::string, 256> to_unicode;
  std::array<int16_t, kMaxMapped> from_unicode;
};

const ByteTables& Tables() {
  static const ByteTables tables = [] {
    ByteTables t;
    t.from_unicode.fill(-1);
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      char32_t cp = printable ? static_cast<char32_t>(b) : next++;
      utf8::Append(t.to_unicode[b], cp);
      t.from_unicode[cp] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

}  // namespace

std::string_view ByteToUnicode(uint8_t byte) { return Tables().to_unicode[byte]; }

int UnicodeToByte(char32_t cp) { return cp < kMaxMapped ? Tables().from_unicode[cp] : -1; }

std::optional<std::string> ByteLevelToBytes(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    int b = UnicodeToByte(utf8::Next(token, pos));
    if (b < 0) return std::nullopt;
    out.push_back(static_cast<char>(b));
  }
  return out;
}

std::string Gpt2PreTokenizerPattern() {
  return OnigToPcre2(
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
}

bool IsWordChar(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
           cp == '_';
  }
  static const RegexSplitter* const word = [] {
    auto re = RegexSplitter::Create("[" + WordClass() + "]");
    LF_CHECK_OK(re);
    return re->release();  // lives as long as the process
  }();
  std::string encoded;
  utf8::Append(encoded, cp);
  std::vector<std::pair<size_t, size_t>> matches;
  word->Matches(encoded, matches);
  return !matches.empty();
}

}  // namespace lf::worker
