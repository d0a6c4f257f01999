// tokenizer.json's "decoder" stage: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace and
// Sequence, turning token strings back into text as Hugging Face's decode_chain does. ByteLevel
// gives raw bytes (no U+FFFD for a cut character); the others give what HF gives. Internal to
// worker/tokenizer. Immutable after parsing: thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf::worker {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token strings in place; the caller joins what is left.
  virtual void DecodeChain(std::vector<std::string>& tokens) const = 0;
};

// tokenizer.json's "decoder" object; an unsupported type is an error naming its field.
Result<std::unique_ptr<Decoder>> ParseDecoder(const JsonField& field);
std::unique_ptr<Decoder> MakeByteLevelDecoder();  // GPT-2's, for vocab.json + merges.txt

}  // namespace lf::worker
