// tokenizer.json's "pre_tokenizer" stage: Split, Digits, ByteLevel, Metaspace, Punctuation,
// WhitespaceSplit, Whitespace and Sequence, cutting normalized text into the pieces the model
// tokenizes one by one, as Hugging Face's pre-tokenizers do. Internal to worker/tokenizer.
// Immutable after parsing: thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"
#include "worker/tokenizer/normalized_text.h"

namespace lf::worker {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their pre-tokens, in order; empty pieces are dropped.
  virtual void Split(std::vector<NormalizedText>& pieces) const = 0;
};

struct ParsedPreTokenizer {
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  // A ByteLevel step ran last: the model reads each byte as GPT-2's byte character, not the
  // text's characters.
  bool byte_level = false;
};

// tokenizer.json's "pre_tokenizer" object; an unsupported type or option is an error naming its
// field. ByteLevel must be the last step (as in every released model).
Result<ParsedPreTokenizer> ParsePreTokenizer(const JsonField& field);
// GPT-2's pre-tokenizer, for the vocab.json + merges.txt form.
std::unique_ptr<PreTokenizer> MakeByteLevelPreTokenizer(bool add_prefix_space, bool use_regex);

}  // namespace lf::worker
