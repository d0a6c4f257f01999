// GPT-2's byte-level scheme, as Hugging Face's ByteLevel pre-tokenizer and decoder implement it:
// the byte <-> printable character mapping (bytes_to_unicode) and the split of text into
// pre-tokens at GPT-2's regex (RegexSplitter::Gpt2 in pattern.h). Internal to
// worker/tokenizer. Everything here is immutable after construction and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/tokenizer/pattern.h"

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

// Whether `cp` is a word character for an added token's single_word option: Hugging Face tests
// Rust's regex \w (Alphabetic, marks, decimal digits, connector punctuation, joiners).
bool IsWordChar(char32_t cp);

}  // namespace lf::worker
