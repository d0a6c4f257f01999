// tokenizer_config.json (what transformers saves beside tokenizer.json) and chat_template.jinja:
// special token strings, add_bos_token/add_eos_token and chat templates. Internal to
// worker/tokenizer; TokenizerConfig itself is public (tokenizer.h). Pure functions: thread-safe.
#pragma once

#include <optional>
#include <string>

#include "common/json_reader.h"
#include "common/status.h"
#include "worker/tokenizer/tokenizer.h"

namespace lf::worker {

struct TokenizerConfigFile {
  TokenizerConfig config;
  std::optional<bool> add_bos_token;  // absent: the tokenizer's own default
  std::optional<bool> add_eos_token;
};

// `doc` is tokenizer_config.json's document (nullptr when there is none); `jinja` the text of
// chat_template.jinja when the folder has one (it becomes the "default" template). Errors name
// the field ("tokenizer_config.json.chat_template[1].name: ...").
Result<TokenizerConfigFile> ParseTokenizerConfig(const Json* doc,
                                                 const std::optional<std::string>& jinja);

}  // namespace lf::worker
