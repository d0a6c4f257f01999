// tokenizer.json's "post_processor" stage for one sequence: TemplateProcessing (its "single"
// template: the special tokens around the text), ByteLevel (offset trimming only) and Sequence.
// "pair" templates are parsed and ignored; RobertaProcessing and BertProcessing are refused.
// Internal to worker/tokenizer. A value: thread-safe to read.
#pragma once

#include <cstdint>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf::worker {

struct PostProcessorSpec {
  std::vector<int32_t> prefix;  // ids before the text (BOS)
  std::vector<int32_t> suffix;  // ids after it (EOS)
  // ByteLevel's trim_offsets: a token's offsets leave out its leading and trailing spaces
  // (except the one space add_prefix_space put before the first token).
  bool trim_offsets = false;
  bool add_prefix_space = false;
};

// tokenizer.json's "post_processor" object; an unsupported type is an error naming its field.
Result<PostProcessorSpec> ParsePostProcessor(const JsonField& field);

}  // namespace lf::worker
