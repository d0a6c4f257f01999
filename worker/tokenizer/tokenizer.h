// Tokenizers turn text into the token ids a base model was trained on, exactly as Hugging Face's
// tokenizer for that model does. A Tokenizer is immutable after loading: any number of threads
// may call its const methods.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace lf::worker {

struct TokenOffsets {  // byte range of the input text
  uint32_t begin = 0;
  uint32_t end = 0;
  bool operator==(const TokenOffsets&) const = default;
};
struct Encoding {
  std::vector<int32_t> ids;
  std::vector<TokenOffsets> offsets;  // one per id
};
// tokenizer_config.json's values that callers need (chat templates, special token strings).
struct TokenizerConfig {
  std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
  std::map<std::string, std::string> chat_templates;  // "default" and named templates
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Ids for `text`, adding nothing (no BOS/EOS): what Hugging Face's
  // `tokenizer(text, add_special_tokens=False)["input_ids"]` gives. Added and special tokens
  // that appear in the text are recognised. Invalid UTF-8 is read as U+FFFD, as Python's
  // `bytes.decode("utf-8", errors="replace")` does, never a crash. (The byte tokenizer is the
  // exception: it has an id for every byte, so it maps invalid bytes as they are.)
  virtual std::vector<int32_t> Encode(std::string_view text) const = 0;
  // The text the ids stand for, special tokens included (Hugging Face's
  // skip_special_tokens=False). With a byte-level decoder (GPT-2, Llama 3, Qwen2) these are the
  // raw bytes, without U+FFFD replacement: a sequence cut inside a character gives its partial
  // bytes, and Decode(Encode(x)) == x for valid UTF-8 x unless an added token with lstrip/rstrip
  // swallowed whitespace. Other decoder chains give what HF's gives (U+FFFD for invalid bytes;
  // SentencePiece-style decoders drop the leading space). Ids with no token are skipped.
  virtual std::string Decode(std::span<const int32_t> ids) const = 0;

  // One more than the largest id, added tokens included (the embedding rows a model needs).
  virtual int32_t vocab_size() const = 0;
  // The end-of-text token: tokenizer_config.json's eos_token when present, else "<|endoftext|>"
  // or "</s>", if the tokenizer has one.
  virtual std::optional<int32_t> eos_id() const = 0;
  // Id of a token as the vocabulary spells it: byte-level for BPE ("Ġthe" for " the").
  virtual std::optional<int32_t> TokenToId(std::string_view token) const = 0;

  // Encode plus each token's byte offsets in `text` (HF's return_offsets_mapping, in bytes of the
  // original text; a token made by the normalizer/byte-fallback from part of a character covers
  // that whole character; added/special tokens cover their match).
  virtual Encoding EncodeWithOffsets(std::string_view text) const = 0;
  // What the post-processor adds around one sequence: HF's tokenizer(text)["input_ids"] ==
  // AddSpecialTokens(Encode(text)).
  virtual std::vector<int32_t> AddSpecialTokens(std::span<const int32_t> ids) const = 0;
  // tokenizer_config.json's bos_token, else the token the post-processor puts first.
  virtual std::optional<int32_t> bos_id() const = 0;
  // eos_id(): tokenizer_config.json's eos_token when present, else "<|endoftext|>" or "</s>".
  virtual std::optional<int32_t> pad_id() const = 0;  // tokenizer_config.json's pad_token
  virtual const TokenizerConfig& config() const = 0;
};

// Loads the tokenizer of a Hugging Face model folder: tokenizer.json (BPE models with the
// normalizers, pre-tokenizers, post-processors and decoders docs/formats/tokenizers.md lists),
// vocab.json + merges.txt (GPT-2), or SentencePiece's tokenizer.model alone; tokenizer_config.json
// beside them is read too. Anything else is refused; errors name the folder, file, stage and field.
// A folder written by SaveByteTokenizer loads as MakeByteTokenizer().
Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir);

// The byte-level tokenizer of the small models lorafleet trains itself: one id per byte (0-255)
// plus "<|endoftext|>" = 256. Saved as a standard tokenizer.json (a byte-level BPE without merges),
// so Hugging Face's tokenizers load it too.
std::unique_ptr<Tokenizer> MakeByteTokenizer();
Status SaveByteTokenizer(const std::string& model_dir);

}  // namespace lf::worker
