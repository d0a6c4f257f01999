// A Jinja2 subset that renders Hugging Face chat templates byte for byte as transformers does
// (jinja2 sandbox with trim_blocks, lstrip_blocks, loopcontrols and the {% generation %} tag).
// What is supported and what is refused is listed in docs/formats/chat_templates.md; anything
// else fails at Parse (or at Render when only known then) naming the construct and the line.
// A Template is immutable after Parse: Render may run from several threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf::worker::jinja {

struct Program;  // the parsed template (jinja_ast.h)

class Template {
 public:
  // `name` prefixes errors ("tokenizer_config.json chat_template line 3: ...").
  static Result<Template> Parse(std::string_view source, std::string name);

  struct Output {
    std::string text;
    // [begin, end) byte offsets of `text` written inside {% generation %} blocks, in order.
    std::vector<std::pair<size_t, size_t>> generation_spans;
  };
  // context: a JSON object of variables (messages, add_generation_prompt, bos_token, ...).
  Result<Output> Render(const Json& context) const;

  const std::string& name() const;
  // Whether the source has a {% generation %} block.
  bool has_generation() const;

 private:
  explicit Template(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;
};

}  // namespace lf::worker::jinja
