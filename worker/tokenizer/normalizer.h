// tokenizer.json's "normalizer" stage: NFC, NFD, NFKC, NFKD (utf8proc), Lowercase, Strip, Prepend,
// Replace and Sequence, as Hugging Face's normalizers apply them, keeping each byte's original
// range. Internal to worker/tokenizer. Immutable after parsing: thread-safe.
#pragma once

#include <memory>

#include "common/json_reader.h"
#include "common/status.h"
#include "worker/tokenizer/normalized_text.h"

namespace lf::worker {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void Normalize(NormalizedText& text) const = 0;
};

// tokenizer.json's "normalizer" object; an unsupported type is an error naming its field.
Result<std::unique_ptr<Normalizer>> ParseNormalizer(const JsonField& field);

}  // namespace lf::worker
