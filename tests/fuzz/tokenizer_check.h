// What every tokenizer must give for any text, checked by both tokenizer fuzz targets: ids that
// exist (0 <= id < vocab_size), one offset pair per id inside the text, the same ids with and
// without offsets, and a Decode that returns.
#pragma once

#include <string_view>

#include "common/status.h"
#include "worker/tokenizer/tokenizer.h"

namespace lf::fuzz {

inline void CheckEncoding(const worker::Tokenizer& tokenizer, std::string_view text) {
  const std::vector<int32_t> ids = tokenizer.Encode(text);
  const int32_t vocab = tokenizer.vocab_size();
  for (int32_t id : ids) {
    LF_CHECK_MSG(id >= 0 && id < vocab, "id " + std::to_string(id) + " outside the vocabulary of " +
                                            std::to_string(vocab));
  }
  const worker::Encoding with_offsets = tokenizer.EncodeWithOffsets(text);
  LF_CHECK_MSG(with_offsets.ids == ids, "EncodeWithOffsets gives other ids than Encode");
  LF_CHECK(with_offsets.offsets.size() == ids.size());
  for (const worker::TokenOffsets& o : with_offsets.offsets) {
    LF_CHECK_MSG(o.begin <= o.end && o.end <= text.size(),
                 "offsets [" + std::to_string(o.begin) + ", " + std::to_string(o.end) +
                     ") outside a text of " + std::to_string(text.size()) + " bytes");
  }
  for (int32_t id : tokenizer.AddSpecialTokens(ids)) LF_CHECK(id >= 0 && id < vocab);
  (void)tokenizer.Decode(ids);
}

}  // namespace lf::fuzz
