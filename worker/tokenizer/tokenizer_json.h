// Reading a byte-level BPE tokenizer from Hugging Face's files: tokenizer.json (what the
// `tokenizers` library saves) or vocab.json + merges.txt (what GPT-2 shipped, with
// tokenizer_config.json beside them for added tokens). Internal to worker/tokenizer; LoadTokenizer
// in tokenizer.h picks the file. Pure functions: thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"
#include "worker/tokenizer/added_tokens.h"
#include "worker/tokenizer/bpe_model.h"
#include "worker/tokenizer/bpe_tokenizer.h"

namespace lf::worker {

// Everything a BpeTokenizer is built from.
struct BpeTokenizerSpec {
  TokenIds vocab;
  std::vector<BpeMerge> merges;
  BpeModelOptions model;
  std::vector<AddedToken> added;
  ByteLevelOptions byte_level;
};

// A parsed tokenizer.json document. Errors name the field ("model.merges[3]: ...") and what
// lorafleet supports; the caller adds the file's path.
Result<BpeTokenizerSpec> ParseTokenizerJson(const Json& doc);

// vocab.json's parsed document and merges.txt's text. Errors say "vocab.json: ..." or
// "merges.txt line 7: ..."; the caller adds the folder.
Result<BpeTokenizerSpec> ParseVocabAndMerges(const Json& vocab, std::string_view merges_txt);

// tokenizer_config.json beside vocab.json: its added_tokens_decoder (transformers >= 4.34) and
// add_prefix_space. Without added_tokens_decoder, "<|endoftext|>" in the vocabulary is special,
// as GPT2Tokenizer's defaults make it.
Status ApplyTokenizerConfig(const Json* config, BpeTokenizerSpec& spec);

}  // namespace lf::worker
