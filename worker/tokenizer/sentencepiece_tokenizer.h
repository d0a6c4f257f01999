// A folder with only SentencePiece's tokenizer.model (no tokenizer.json), read with
// libsentencepiece and encoded as transformers' sentencepiece LlamaTokenizer does with
// legacy=True: special tokens (<s>, </s>, <unk>) split out first, each stretch between them
// encoded by SentencePiece, BOS/EOS per add_bos_token (default true) and add_eos_token (default
// false). Internal to worker/tokenizer. Immutable after loading: thread-safe.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/tokenizer/tokenizer_config.h"

namespace lf::worker {

Result<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(const std::string& model_path,
                                                              TokenizerConfigFile config);

}  // namespace lf::worker
