// The byte-level BPE tokenizer (GPT-2 and the models that copied it), assembled from its parts:
// added tokens, then GPT-2's pre-tokenizer, then the BPE model. The loaders in
// tokenizer_loader.cpp build one from tokenizer.json or vocab.json + merges.txt. Internal to
// worker/tokenizer. Immutable after construction (the BPE cache locks itself): thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "worker/tokenizer/added_tokens.h"
#include "worker/tokenizer/bpe_model.h"
#include "worker/tokenizer/tokenizer.h"

namespace lf::worker {

struct ByteLevelOptions {
  bool add_prefix_space = false;  // a space before each stretch of text that lacks one
  bool use_regex = true;          // split at GPT-2's regex; otherwise a stretch is one pre-token
};

std::unique_ptr<Tokenizer> MakeBpeTokenizer(std::unique_ptr<BpeModel> model,
                                            std::vector<AddedToken> added,
                                            ByteLevelOptions options);

}  // namespace lf::worker
