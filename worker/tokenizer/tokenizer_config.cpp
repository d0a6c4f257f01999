#include "worker/tokenizer/tokenizer_config.h"

namespace lf::worker {
namespace {

// A special token is a string or an AddedToken object {"content": ...}; null means none.
Result<std::optional<std::string>> TokenString(const JsonField& root, std::string_view key) {
  std::optional<JsonField> field = root.Optional(key);
  if (!field) return std::optional<std::string>();
  if (field->json().is_string())
    return std::optional<std::string>(field->json().get<std::string>());
  if (field->IsObject()) {
    LF_ASSIGN_OR_RETURN(std::string content, field->StringAt("content"));
    return std::optional<std::string>(std::move(content));
  }
  return field->Error("expected a token string or {\"content\": ...}, got " +
                      DescribeJsonValue(field->json()));
}

Result<std::optional<bool>> OptionalBool(const JsonField& root, std::string_view key) {
  std::optional<JsonField> field = root.Optional(key);
  if (!field) return std::optional<bool>();
  LF_ASSIGN_OR_RETURN(bool value, field->Bool());
  return std::optional<bool>(value);
}

Status ParseChatTemplates(const JsonField& root, std::map<std::string, std::string>& out) {
  std::optional<JsonField> field = root.Optional("chat_template");
  if (!field) return Status::Ok();
  if (field->json().is_string()) {
    out["default"] = field->json().get<std::string>();
    return Status::Ok();
  }
  // transformers' list form: [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
  Result<std::vector<JsonField>> elements = field->Elements();
  if (!elements.ok()) {
    return field->Error("expected a template string or a list of {\"name\", \"template\"}, got " +
                        DescribeJsonValue(field->json()));
  }
  for (const JsonField& e : *elements) {
    LF_ASSIGN_OR_RETURN(std::string name, e.StringAt("name"));
    LF_ASSIGN_OR_RETURN(std::string text, e.StringAt("template"));
    out[name] = std::move(text);
  }
  return Status::Ok();
}

}  // namespace

Result<TokenizerConfigFile> ParseTokenizerConfig(const Json* doc,
                                                 const std::optional<std::string>& jinja) {
  TokenizerConfigFile file;
  if (doc != nullptr) {
    JsonField root(*doc, FieldPath("tokenizer_config.json"));
    if (!root.IsObject()) return root.Error("expected an object, got " + DescribeJsonValue(*doc));
    TokenizerConfig& c = file.config;
    LF_ASSIGN_OR_RETURN(c.bos_token, TokenString(root, "bos_token"));
    LF_ASSIGN_OR_RETURN(c.eos_token, TokenString(root, "eos_token"));
    LF_ASSIGN_OR_RETURN(c.pad_token, TokenString(root, "pad_token"));
    LF_ASSIGN_OR_RETURN(c.unk_token, TokenString(root, "unk_token"));
    LF_ASSIGN_OR_RETURN(file.add_bos_token, OptionalBool(root, "add_bos_token"));
    LF_ASSIGN_OR_RETURN(file.add_eos_token, OptionalBool(root, "add_eos_token"));
    LF_RETURN_IF_ERROR(ParseChatTemplates(root, c.chat_templates));
  }
  if (jinja) file.config.chat_templates["default"] = *jinja;  // transformers >= 4.43 prefers it
  return file;
}

}  // namespace lf::worker
