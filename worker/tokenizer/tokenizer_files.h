// The files of a Hugging Face model folder that make up its tokenizer (tokenizer.json,
// tokenizer_config.json with the chat template, SentencePiece's tokenizer.model, ...), in one
// list for everything that writes a model folder: full fine-tuning, merges and pretraining.
#pragma once

#include <string>

#include "common/status.h"

namespace lf::worker {

// Copies those of the tokenizer files (and generation_config.json) that `from_dir` has into
// `to_dir`, overwriting. Errors name the file.
Status CopyTokenizerFiles(const std::string& from_dir, const std::string& to_dir);

}  // namespace lf::worker
