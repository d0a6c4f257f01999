// Reading a BPE tokenizer from Hugging Face's files: tokenizer.json (what the `tokenizers`
// library saves: added tokens, normalizer, pre-tokenizer, model, post-processor, decoder) or
// vocab.json + merges.txt (what GPT-2 shipped, with tokenizer_config.json beside them for added
// tokens). Internal to worker/tokenizer; LoadTokenizer in tokenizer.h picks the file. Pure
// functions: thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"
#include "worker/tokenizer/bpe_tokenizer.h"

namespace lf::worker {

// A parsed tokenizer.json document. Errors name the stage and field
// ("pre_tokenizer.pretokenizers[1].type: pre-tokenizer \"BertPreTokenizer\" is not supported;
// supported: ...", "model.merges[3]: ..."); the caller adds the file's path.
Result<BpeTokenizerSpec> ParseTokenizerJson(const Json& doc);

// vocab.json's parsed document and merges.txt's text: GPT-2's byte-level BPE. Errors say
// "vocab.json: ..." or "merges.txt line 7: ..."; the caller adds the folder.
Result<BpeTokenizerSpec> ParseVocabAndMerges(const Json& vocab, std::string_view merges_txt);

// tokenizer_config.json beside vocab.json: its added_tokens_decoder (transformers >= 4.34) and
// add_prefix_space. Without added_tokens_decoder, "<|endoftext|>" in the vocabulary is special,
// as GPT2Tokenizer's defaults make it.
Status ApplyTokenizerConfig(const Json* config, BpeTokenizerSpec& spec);

}  // namespace lf::worker
