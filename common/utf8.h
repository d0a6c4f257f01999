// UTF-8 for every reader of text: validation (safetensors headers, JSONL data), the replacement
// of invalid bytes that Python's bytes.decode("utf-8", errors="replace") performs (tokenizers),
// and code point stepping. Pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lf::utf8 {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF), as the Unicode standard and Python define it.
bool IsValid(std::string_view text);
// Offset of the first byte that does not begin a well-formed sequence, or npos when all is valid.
size_t FindInvalid(std::string_view text);

// `text` with each maximal ill-formed subsequence replaced by U+FFFD: exactly what Python's
// bytes.decode("utf-8", errors="replace") returns, encoded back to UTF-8. A truncated but
// otherwise correct sequence ("\xE2\x82") becomes one U+FFFD; a byte that can start no sequence
// (0x80-0xC1, 0xF5-0xFF) or that breaks one off (0xE0 0x80: overlong; 0xED 0xA0: a surrogate)
// becomes one U+FFFD by itself.
std::string ReplaceInvalid(std::string_view text);

// The code point that starts at text[pos] in valid UTF-8; advances pos past it.
char32_t Next(std::string_view text, size_t& pos);
// The code point that ends just before text[end] in valid UTF-8 (end > 0).
char32_t Previous(std::string_view text, size_t end);

void Append(std::string& out, char32_t cp);

// The Unicode White_Space property (what Rust's char::is_whitespace and regex \s test).
bool IsWhitespace(char32_t cp);

}  // namespace lf::utf8
