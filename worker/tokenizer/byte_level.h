// GPT-2's byte-level scheme, as Hugging Face's ByteLevel pre-tokenizer and decoder implement it:
// the byte <-> printable character mapping (bytes_to_unicode) and the split of text into
// pre-tokens at GPT-2's regex, run by PCRE2 (JIT-compiled where available). Internal to
// worker/tokenizer. Everything here is immutable after construction and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace lf::worker {

// The character GPT-2 uses for `byte`, UTF-8 encoded: printable Latin-1 bytes stand for
// themselves, the others for U+0100 upwards ("Ġ" is the space).
std::string_view ByteToUnicode(uint8_t byte);
// The byte a byte-level character stands for, or -1 when `cp` is none of the 256.
int UnicodeToByte(char32_t cp);
// The bytes a byte-level token such as "Ġthe" stands for; nullopt when one of its characters is
// not byte-level (added tokens such as "<|endoftext|>" are written with printable ASCII, which is).
std::optional<std::string> ByteLevelToBytes(std::string_view token);

// GPT-2's pre-tokenization regex in PCRE2 syntax, with \p{L}, \p{N} and \s written out so that
// they classify code points exactly as Hugging Face `tokenizers` does (Unicode 16 letters and
// digits that older PCRE2 tables lack; no U+180E in \s).
std::string Gpt2PreTokenizerPattern();

// Splits text into the pieces a regex matches, plus the text between matches (Hugging Face's
// "Isolated" split behaviour). Empty matches are skipped.
class RegexSplitter {
 public:
  // Compiles with PCRE2_UTF | PCRE2_UCP and JIT when the library has it.
  static Result<std::unique_ptr<RegexSplitter>> Create(const std::string& pattern);
  static const RegexSplitter& Gpt2();  // shared instance of Gpt2PreTokenizerPattern()
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Appends the pieces of `text` (valid UTF-8) to `pieces`; together they cover it in order.
  void Split(std::string_view text, std::vector<std::string_view>& pieces) const;

 private:
  explicit RegexSplitter(void* code) : code_(code) {}
  void* code_;  // pcre2_code_8*, kept out of this header
};

// Whether `cp` is a word character for an added token's single_word option: Hugging Face tests
// Rust's regex \w (Alphabetic, marks, decimal digits, connector punctuation, joiners).
bool IsWordChar(char32_t cp);

}  // namespace lf::worker
