// What the tokenizer tests share: reading their JSON fixtures, loading a fixture's tokenizer,
// and the hex strings the fixtures write raw bytes (invalid UTF-8 too) as. Aborts on a broken
// fixture, which is a bug in the test data, not a test failure.
#pragma once

#include <memory>
#include <string>

#include "common/file_util.h"
#include "common/json_reader.h"
#include "worker/tokenizer/tokenizer.h"

namespace lf::worker {

inline Json ReadJsonOrDie(const std::string& path) {
  auto text = ReadFileToString(path);
  LF_CHECK_OK(text);
  auto doc = ParseJson(*text, path);
  LF_CHECK_OK(doc);
  return std::move(doc).value();
}

inline std::unique_ptr<Tokenizer> LoadOrDie(const std::string& dir) {
  auto tokenizer = LoadTokenizer(dir);
  LF_CHECK_OK(tokenizer);
  return std::move(tokenizer).value();
}

inline std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

}  // namespace lf::worker
