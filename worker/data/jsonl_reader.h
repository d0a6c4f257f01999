// Reads training data files in lorafleet's JSONL format (docs/formats/data.md): one JSON object
// per line, {"text": ...} or {"prompt": ..., "completion": ...}, either kind on any line.
// Errors name the file, the line and what is wrong. Free functions; thread-safe.
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
};

// Tokenizes every line of `path` (see example.h for how each kind becomes tokens). Blank lines are
// skipped; so are examples that encode to nothing but the EOS ({"text": ""}), counted in
// info->skipped_empty. A file with no examples, a malformed line or a tokenizer without an EOS
// token is an InvalidArgument: "data/train.jsonl:7: completion: expected a string, got 3".
// `info` may be null.
Result<std::vector<Example>> LoadJsonlExamples(const std::string& path, const Tokenizer& tokenizer,
                                               DataFileInfo* info = nullptr);

}  // namespace lf::worker
