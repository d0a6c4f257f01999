#include "worker/data/jsonl_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>

#include "common/file_util.h"
#include "common/json_reader.h"
#include "common/sha256.h"
#include "common/utf8.h"

namespace lf::worker {
namespace {

constexpr size_t kChunkBytes = size_t{1} << 20;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kShapes =
    R"({"text": "..."}, {"prompt": "...", "completion": "..."} or )"
    R"({"messages": [{"role": "user", "content": "..."}, ...]})";
constexpr std::string_view kRoles[] = {"system", "user", "assistant"};

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// nlohmann's what() reads "[json.exception.parse_error.101] parse error at line 1, column 5:
// syntax error ..."; the line is always 1 here and the column is reported separately.
std::string ParseErrorReason(const Json::parse_error& e) {
  std::string_view what = e.what();
  size_t column = what.find("column ");
  size_t colon = column == std::string_view::npos ? column : what.find(": ", column);
  if (colon != std::string_view::npos) what.remove_prefix(colon + 2);
  return std::string(what);
}

Result<std::string> StringField(const JsonField& object, std::string_view key) {
  LF_ASSIGN_OR_RETURN(JsonField field, object.Required(key));
  return field.String();
}

}  // namespace

Result<std::vector<ChatMessage>> ParseChatMessages(const JsonField& list) {
  LF_ASSIGN_OR_RETURN(std::vector<JsonField> elements, list.Elements());
  if (elements.empty()) return list.Error("expected at least one message, got an empty list");
  std::vector<ChatMessage> messages;
  for (const JsonField& m : elements) {
    if (!m.IsObject()) {
      return m.Error(R"(expected {"role": "...", "content": "..."}, got )" +
                     DescribeJsonValue(m.json()));
    }
    LF_RETURN_IF_ERROR(m.CheckKeys({"role", "content"}));
    ChatMessage message;
    LF_ASSIGN_OR_RETURN(JsonField role, m.Required("role"));
    LF_ASSIGN_OR_RETURN(message.role, role.String());
    if (std::find(std::begin(kRoles), std::end(kRoles), message.role) == std::end(kRoles)) {
      return role.Error("expected \"system\", \"user\" or \"assistant\", got \"" +
                        message.role + "\"");
    }
    LF_ASSIGN_OR_RETURN(message.content, StringField(m, "content"));
    messages.push_back(std::move(message));
  }
  return messages;
}

namespace {

Result<Example> ParseLine(std::string_view line, const Tokenizer& tokenizer, int32_t eos_id,
                          const JsonlOptions& options, bool* chat) {
  // nlohmann rejects such bytes too, but its message ("ill-formed UTF-8 byte") does not tell a
  // user that the file's encoding is the problem.
  if (size_t bad = utf8::FindInvalid(line); bad != std::string_view::npos) {
    char byte[8];
    std::snprintf(byte, sizeof(byte), "0x%02X", static_cast<uint8_t>(line[bad]));
    return InvalidArgument("invalid UTF-8 at column " + std::to_string(bad + 1) + " (byte " + byte +
                           "); data files must be UTF-8: convert this one, e.g. with " +
                           "`iconv -f latin1 -t utf-8`");
  }
  Json doc;
  try {
    doc = Json::parse(line.begin(), line.end());
  } catch (const Json::parse_error& e) {
    return InvalidArgument("invalid JSON at column " + std::to_string(e.byte) + ": " +
                           ParseErrorReason(e));
  }
  if (!doc.is_object()) {
    return InvalidArgument("expected " + std::string(kShapes) + ", got " + DescribeJsonValue(doc));
  }
  JsonField root(doc, FieldPath());
  const bool text = root.Has("text");
  const bool prompt_completion = root.Has("prompt") || root.Has("completion");
  if (root.Has("messages")) {
    LF_RETURN_IF_ERROR(root.CheckKeys({"messages"}));
    LF_ASSIGN_OR_RETURN(JsonField list, root.Required("messages"));
    LF_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages, ParseChatMessages(list));
    if (options.chat_template == nullptr) {
      return list.Error(
          "a chat example needs a chat template, and the base model's tokenizer has none (no "
          "chat_template in tokenizer_config.json, no chat_template.jinja); name a template "
          "file with data.chat_template");
    }
    *chat = true;
    return ChatExample(tokenizer, *options.chat_template, messages, options.train_on);
  }
  if (text && prompt_completion) {
    return InvalidArgument("expected " + std::string(kShapes) +
                           R"(, got both "text" and "prompt"/"completion" on one line)");
  }
  if (text) {
    LF_RETURN_IF_ERROR(root.CheckKeys({"text"}));
    LF_ASSIGN_OR_RETURN(std::string s, StringField(root, "text"));
    return TextExample(tokenizer, s, eos_id);
  }
  if (prompt_completion) {
    LF_RETURN_IF_ERROR(root.CheckKeys({"prompt", "completion"}));
    LF_ASSIGN_OR_RETURN(std::string prompt, StringField(root, "prompt"));
    LF_ASSIGN_OR_RETURN(std::string completion, StringField(root, "completion"));
    return PromptCompletionExample(tokenizer, prompt, completion, eos_id);
  }
  // No known key: CheckKeys names the first unknown one and the closest known key.
  LF_RETURN_IF_ERROR(root.CheckKeys({"text", "prompt", "completion", "messages"}));
  return InvalidArgument("expected " + std::string(kShapes) + ", got an empty object");
}

}  // namespace

Result<std::vector<Example>> LoadJsonlExamples(const std::string& path, const Tokenizer& tokenizer,
                                               DataFileInfo* info) {
  return LoadJsonlExamples(path, tokenizer, JsonlOptions{}, info);
}

Result<std::vector<Example>> LoadJsonlExamples(const std::string& path, const Tokenizer& tokenizer,
                                               const JsonlOptions& options, DataFileInfo* info) {
  std::optional<int32_t> eos_id = tokenizer.eos_id();
  if (!eos_id) {
    return InvalidArgument(path + ": the tokenizer has no end-of-text token, which ends every " +
                           "example; use a base model whose tokenizer defines one");
  }
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) return StatusFromErrno("opening data file", path, errno);

  // The file is read once, in chunks: the digest covers exactly the bytes that were parsed, and
  // memory holds one chunk plus the longest line, not the whole file.
  Sha256 sha;
  std::vector<Example> examples;
  int64_t line_number = 0, skipped_empty = 0, bytes_read = 0, chat_examples = 0;
  auto handle_line = [&](std::string_view line) -> Status {
    ++line_number;
    if (line_number == 1 && line.starts_with(kUtf8Bom)) line.remove_prefix(kUtf8Bom.size());
    if (IsBlank(line)) return Status::Ok();
    bool chat = false;
    Result<Example> example = ParseLine(line, tokenizer, *eos_id, options, &chat);
    if (!example.ok()) {
      return example.status().WithContext(path + ":" + std::to_string(line_number));
    }
    if (example->ids.size() < 2) {
      ++skipped_empty;
    } else {
      examples.push_back(std::move(example).value());
      chat_examples += chat;
    }
    return Status::Ok();
  };
  std::string pending;  // bytes after the last newline seen so far
  std::vector<char> chunk(kChunkBytes);
  while (true) {
    size_t n = std::fread(chunk.data(), 1, chunk.size(), file.get());
    const int read_errno = errno;
    if (n < chunk.size() && std::ferror(file.get())) {
      if (read_errno == EISDIR) {
        return InvalidArgument(path + ": is a directory, not a .jsonl file");
      }
      return StatusFromErrno("reading data file", path, read_errno);
    }
    if (n == 0) break;
    bytes_read += static_cast<int64_t>(n);
    std::string_view bytes(chunk.data(), n);
    sha.Update(bytes);
    size_t search_from = pending.size();  // `pending` holds no newline yet
    pending.append(bytes);
    size_t start = 0;
    for (size_t newline; (newline = pending.find('\n', search_from)) != std::string::npos;) {
      LF_RETURN_IF_ERROR(handle_line(std::string_view(pending).substr(start, newline - start)));
      start = search_from = newline + 1;
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) LF_RETURN_IF_ERROR(handle_line(pending));

  if (examples.empty()) {
    std::string why = bytes_read == 0      ? "the file is empty"
                      : skipped_empty == 0 ? "every line is blank"
                                           : "every example is empty (no tokens besides the EOS)";
    return InvalidArgument(path + ": no training examples: " + why + "; expected one JSON " +
                           "object per line, " + std::string(kShapes));
  }
  if (info != nullptr) {
    info->path = path;
    info->sha256 = ToHex(sha.Finish());
    info->stats = CountTokens(examples);
    info->skipped_empty = skipped_empty;
    info->chat_examples = chat_examples;
  }
  return examples;
}

}  // namespace lf::worker
