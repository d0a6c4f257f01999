// Tokenizers turn text into the token ids a base model was trained on, exactly as Hugging Face's
// tokenizer for that model does. A Tokenizer is immutable after loading: any number of threads
// may call its const methods.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace lf::worker {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Ids for `text`, adding nothing (no BOS/EOS): what Hugging Face's
  // `tokenizer(text, add_special_tokens=False)["input_ids"]` gives. Added and special tokens
  // that appear in the text are recognised. Invalid UTF-8 is read as U+FFFD, as Python's
  // `bytes.decode("utf-8", errors="replace")` does, never a crash. (The byte tokenizer is the
  // exception: it has an id for every byte, so it maps invalid bytes as they are.)
  virtual std::vector<int32_t> Encode(std::string_view text) const = 0;
  // The bytes the ids stand for, special tokens included (Hugging Face's
  // skip_special_tokens=False), without U+FFFD replacement: a sequence cut inside a character
  // gives its partial bytes. Decode(Encode(x)) == x for valid UTF-8 x, unless an added token with
  // lstrip/rstrip swallowed whitespace. Ids with no token are skipped.
  virtual std::string Decode(std::span<const int32_t> ids) const = 0;

  // One more than the largest id, added tokens included (the embedding rows a model needs).
  virtual int32_t vocab_size() const = 0;
  // The end-of-text token ("<|endoftext|>" for GPT-2, "</s>" for Llama), if the tokenizer has one.
  virtual std::optional<int32_t> eos_id() const = 0;
  // Id of a token as the vocabulary spells it: byte-level for BPE ("Ġthe" for " the").
  virtual std::optional<int32_t> TokenToId(std::string_view token) const = 0;
};

// Loads the tokenizer of a Hugging Face model folder: tokenizer.json, or vocab.json + merges.txt
// (with tokenizer_config.json's added tokens when present). Byte-level BPE only (GPT-2 style);
// other models, normalizers and pre-tokenizers are refused. Errors name the folder and the file
// and field that is wrong. A folder written by SaveByteTokenizer loads as MakeByteTokenizer().
Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir);

// The byte-level tokenizer of the small models lorafleet trains itself: one id per byte (0-255)
// plus "<|endoftext|>" = 256. Saved as a standard tokenizer.json (a byte-level BPE without merges),
// so Hugging Face's tokenizers load it too.
std::unique_ptr<Tokenizer> MakeByteTokenizer();
Status SaveByteTokenizer(const std::string& model_dir);

}  // namespace lf::worker
