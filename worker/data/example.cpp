#include "worker/data/example.h"

#include <algorithm>
#include <map>
#include <string>

#include "common/file_util.h"

namespace lf::worker {
namespace {

void Append(Example& example, std::span<const int32_t> ids, uint8_t loss) {
  example.ids.insert(example.ids.end(), ids.begin(), ids.end());
  example.loss.resize(example.ids.size(), loss);
}

// The suffix, then the EOS unless the ids already end with it: every example ends with one.
void Finish(Example& example, const SpecialAffixes& affixes, int32_t eos_id, uint8_t loss) {
  Append(example, affixes.suffix, loss);
  if (example.ids.empty() || example.ids.back() != eos_id) Append(example, {&eos_id, 1}, loss);
}

}  // namespace

SpecialAffixes SpecialTokenAffixes(const Tokenizer& tokenizer) {
  constexpr int32_t kMarker = -1;
  const std::vector<int32_t> marked = {kMarker};
  std::vector<int32_t> out = tokenizer.AddSpecialTokens(marked);
  auto at = std::find(out.begin(), out.end(), kMarker);
  LF_CHECK_MSG(at != out.end(), "AddSpecialTokens dropped the sequence's ids");
  return {{out.begin(), at}, {at + 1, out.end()}};
}

Example TextExample(const Tokenizer& tokenizer, std::string_view text, int32_t eos_id) {
  const SpecialAffixes affixes = SpecialTokenAffixes(tokenizer);
  Example example;
  Append(example, affixes.prefix, 1);
  Append(example, tokenizer.Encode(text), 1);
  Finish(example, affixes, eos_id, 1);
  return example;
}

Example PromptCompletionExample(const Tokenizer& tokenizer, std::string_view prompt,
                                std::string_view completion, int32_t eos_id) {
  const SpecialAffixes affixes = SpecialTokenAffixes(tokenizer);
  Example example;
  Append(example, affixes.prefix, 0);
  Append(example, tokenizer.Encode(prompt), 0);
  Append(example, tokenizer.Encode(completion), 1);
  Finish(example, affixes, eos_id, 1);
  return example;
}

Result<std::optional<ChatTemplate>> LoadChatTemplate(const Tokenizer& tokenizer,
                                                     const std::string& template_file,
                                                     const std::string& model_dir) {
  const TokenizerConfig& config = tokenizer.config();
  std::map<std::string, std::string> special;
  for (const auto& [name, value] : {std::pair{"bos_token", &config.bos_token},
                                    {"eos_token", &config.eos_token},
                                    {"pad_token", &config.pad_token},
                                    {"unk_token", &config.unk_token}}) {
    if (*value) special[name] = **value;
  }
  if (!template_file.empty()) {
    Result<std::string> source = ReadFileToString(template_file, kMaxSettingsFileBytes);
    if (!source.ok()) return source.status().WithContext("job.data.chat_template");
    LF_ASSIGN_OR_RETURN(ChatTemplate chat,
                        ChatTemplate::Create(std::move(*source), template_file, special));
    return std::optional<ChatTemplate>(std::move(chat));
  }
  auto it = config.chat_templates.find("default");
  if (it == config.chat_templates.end()) return std::optional<ChatTemplate>();
  LF_ASSIGN_OR_RETURN(ChatTemplate chat,
                      ChatTemplate::Create(it->second, model_dir + " chat_template", special));
  return std::optional<ChatTemplate>(std::move(chat));
}

Result<Example> ChatExample(const Tokenizer& tokenizer, const ChatTemplate& chat,
                            std::span<const ChatMessage> messages, jobs::TrainOn train_on) {
  LF_ASSIGN_OR_RETURN(RenderedChat rendered, chat.RenderWithAssistantSpans(messages));
  std::vector<ChatSpan> targets = rendered.assistant_spans;
  if (train_on != jobs::TrainOn::kAll && targets.empty()) {
    return InvalidArgument("messages: no assistant message to learn from (data.train_on: " +
                           std::string(jobs::TrainOnName(train_on)) +
                           "); add one, or set data.train_on: all");
  }
  if (train_on == jobs::TrainOn::kLastAssistant) targets.erase(targets.begin(), targets.end() - 1);
  Encoding encoding = tokenizer.EncodeWithOffsets(rendered.text);
  Example example;
  example.ids = std::move(encoding.ids);
  example.loss.assign(example.ids.size(), train_on == jobs::TrainOn::kAll ? 1 : 0);
  if (train_on != jobs::TrainOn::kAll) {
    // A token is a target when any of its bytes lies in a target span, as transformers'
    // return_assistant_tokens_mask marks every token that a generated character maps to.
    size_t span = 0;
    for (size_t k = 0; k < example.ids.size(); ++k) {
      const TokenOffsets& o = encoding.offsets[k];
      while (span < targets.size() && targets[span].end <= o.begin) ++span;
      if (span < targets.size() && o.end > targets[span].begin && o.begin < targets[span].end) {
        example.loss[k] = 1;
      }
    }
  }
  return example;
}

DataStats CountTokens(std::span<const Example> examples) {
  DataStats stats;
  stats.examples = static_cast<int64_t>(examples.size());
  for (const Example& example : examples) {
    stats.tokens += static_cast<int64_t>(example.ids.size());
    for (uint8_t flag : example.loss) stats.loss_tokens += flag;
  }
  return stats;
}

}  // namespace lf::worker
