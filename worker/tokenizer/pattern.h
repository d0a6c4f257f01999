// Patterns of tokenizer.json ({"String": ...} or {"Regex": ...}) for the Split pre-tokenizer and
// the Replace normalizer/decoder. Hugging Face compiles regexes with Oniguruma; they run here on
// PCRE2 after OnigToPcre2 rewrites what classifies differently (\p{L}, \p{N}, \s, \d, \w and
// their negations to the Unicode 16 sets of `tokenizers`). Immutable after construction:
// thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf::worker {

// `pattern` (Oniguruma syntax, as in tokenizer.json) in PCRE2 syntax with \p{L}, \p{N}, \s, \d,
// \w and their negations written out as the sets Hugging Face's classes hold.
std::string OnigToPcre2(std::string_view pattern);
// Character-class bodies (no brackets) of HF's letters, numbers and white space, for PCRE2.
std::string LetterClass();
std::string NumberClass();
std::string SpaceClass();
std::string WordClass();

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
  // Appends the byte ranges of the non-empty matches in `text`, left to right.
  void Matches(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  explicit RegexSplitter(void* code) : code_(code) {}
  void* code_;  // pcre2_code_8*, kept out of this header
};

// A literal string or a regex; finds the non-overlapping matches left to right.
class Pattern {
 public:
  // `field` is {"String": "..."} or {"Regex": "..."}; a regex that does not compile is an error.
  static Result<Pattern> Parse(const JsonField& field);
  static Result<Pattern> FromRegex(const std::string& onig_pattern);
  static Pattern FromString(std::string literal);
  void Matches(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  std::string literal_;
  std::shared_ptr<const RegexSplitter> regex_;
};

}  // namespace lf::worker
