// Splits a template into text and tags, applying the whitespace rules transformers configures
// (trim_blocks, lstrip_blocks, "-" and "+" modifiers, the last newline of the source dropped),
// and tokenizes the expressions inside tags. Comments are dropped here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/chat/jinja_ast.h"

namespace lf::worker::jinja {

struct Segment {
  enum class Kind { kText, kOutput, kStatement };
  Kind kind = Kind::kText;
  int line = 1;
  std::string text;           // kText
  std::vector<Token> tokens;  // kOutput, kStatement: ends with a kEnd token
};

Result<std::vector<Segment>> Lex(std::string_view source, const std::string& name);

// Appends the UTF-8 bytes of a code point.
void AppendUtf8(uint32_t code_point, std::string& out);

}  // namespace lf::worker::jinja
