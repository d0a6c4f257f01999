// Hugging Face's tokenizer pipeline around a BPE model, assembled from its parts: added tokens
// split first, then normalizer, pre-tokenizer, BPE model and post-processor; the decoder for
// Decode. The loaders in tokenizer_loader.cpp build the parts from tokenizer.json or vocab.json +
// merges.txt. Internal to worker/tokenizer. Immutable after construction (the BPE cache locks
// itself): thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "worker/tokenizer/added_tokens.h"
#include "worker/tokenizer/bpe_model.h"
#include "worker/tokenizer/decoder.h"
#include "worker/tokenizer/normalizer.h"
#include "worker/tokenizer/post_processor.h"
#include "worker/tokenizer/pre_tokenizer.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/tokenizer/tokenizer_config.h"

namespace lf::worker {

struct ByteLevelOptions {
  bool add_prefix_space = false;  // a space before each stretch of text that lacks one
  bool use_regex = true;          // split at GPT-2's regex; otherwise a stretch is one pre-token
};

// Everything a BPE tokenizer is built from.
struct BpeTokenizerSpec {
  TokenIds vocab;
  std::vector<BpeMerge> merges;
  BpeModelOptions model;
  std::vector<AddedToken> added;
  std::shared_ptr<const Normalizer> normalizer;       // null: none
  std::shared_ptr<const PreTokenizer> pre_tokenizer;  // null: the normalized text is one piece
  std::shared_ptr<const Decoder> decoder;             // null: tokens joined with spaces, as HF
  bool byte_level_decoder = false;  // the decoder is one ByteLevel step: bytes, never U+FFFD
  PostProcessorSpec post;
  // The pre-tokenizer when it is one ByteLevel step (GPT-2 style); the vocab.json form builds
  // its pre-tokenizer from it once tokenizer_config.json is read.
  std::optional<ByteLevelOptions> byte_level;
};

std::unique_ptr<Tokenizer> MakeBpeTokenizer(BpeTokenizerSpec spec, TokenizerConfig config);

}  // namespace lf::worker
