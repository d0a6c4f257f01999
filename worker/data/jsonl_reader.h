// Reads training data files in lorafleet's JSONL format (docs/formats/data.md): one JSON object
// per line, {"text": ...}, {"prompt": ..., "completion": ...} or {"messages": [...]}, any kind on
// any line. Errors name the file, the line, the message index and what is wrong. Free functions;
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/data/example.h"
#include "worker/tokenizer/tokenizer.h"

namespace lf::worker {

// What a data file contributed, for lineage and logs.
struct DataFileInfo {
  std::string path;
  std::string sha256;         // lowercase hex of the bytes that were parsed
  DataStats stats;            // of the examples kept
  int64_t skipped_empty = 0;  // lines whose example had no tokens besides the EOS
  int64_t chat_examples = 0;  // {"messages"} lines among the examples kept
};

struct JsonlOptions {
  // Renders {"messages"} lines; null: such a line is an error saying how to give a template.
  const ChatTemplate* chat_template = nullptr;
  jobs::TrainOn train_on = jobs::TrainOn::kAssistant;
};

// Tokenizes every line of `path` (see example.h for how each kind becomes tokens). Blank lines are
// skipped; so are examples that encode to nothing but the EOS ({"text": ""}), counted in
// info->skipped_empty. A file with no examples, a malformed line or a tokenizer without an EOS
// token is an InvalidArgument: "data/train.jsonl:7: completion: expected a string, got 3".
// `info` may be null.
Result<std::vector<Example>> LoadJsonlExamples(const std::string& path, const Tokenizer& tokenizer,
                                               const JsonlOptions& options,
                                               DataFileInfo* info = nullptr);
// A chat line's "messages" list, checked as LoadJsonlExamples checks it (errors name
// messages[i] and the field).
Result<std::vector<ChatMessage>> ParseChatMessages(const JsonField& messages);

// Without a chat template: text and prompt/completion lines only.
Result<std::vector<Example>> LoadJsonlExamples(const std::string& path, const Tokenizer& tokenizer,
                                               DataFileInfo* info = nullptr);

}  // namespace lf::worker
