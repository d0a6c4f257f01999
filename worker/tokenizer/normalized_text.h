// Text on its way through the normalizer and pre-tokenizer, with the original byte range of each
// of its bytes, as Hugging Face's NormalizedString keeps alignments so that token offsets map back
// to the input. Internal to worker/tokenizer. A value type: not shared between threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "worker/tokenizer/tokenizer.h"

namespace lf::worker {

struct NormalizedText {
  std::string text;                 // valid UTF-8, or raw bytes after ByteLevel
  std::vector<TokenOffsets> align;  // original range of each byte of `text`

  // `original` (valid UTF-8) starting at byte `base` of the input: each byte of a character is
  // aligned to the whole character, as Hugging Face does.
  static NormalizedText FromOriginal(std::string_view original, uint32_t base);
  // Any input: invalid UTF-8 becomes the U+FFFDs Python's decode("utf-8", errors="replace")
  // gives, each aligned to the bytes it replaces.
  static NormalizedText FromInput(std::string_view input);
  NormalizedText Slice(size_t begin, size_t end) const;
  // The original range of text[begin, end) (begin < end).
  TokenOffsets OriginalRange(size_t begin, size_t end) const {
    return {align[begin].begin, align[end - 1].end};
  }
  bool empty() const { return text.empty(); }
  // Appends `chars`, every byte aligned to `origin`.
  void Append(std::string_view chars, TokenOffsets origin);
  // `prefix` before the text, aligned to its first character (Hugging Face's prepend).
  void Prepend(std::string_view prefix);
};

}  // namespace lf::worker
