// ChatTemplate: the variables transformers gives a chat template, and the assistant spans.
#include "worker/chat/chat_template.h"

namespace lf::worker {

Result<ChatTemplate> ChatTemplate::Create(std::string source, std::string name,
                                          const std::map<std::string, std::string>& special) {
  LF_ASSIGN_OR_RETURN(jinja::Template parsed, jinja::Template::Parse(source, std::move(name)));
  Json tokens = Json::object();
  for (const auto& [key, value] : special) tokens[key] = value;
  auto eos = special.find("eos_token");
  return ChatTemplate(std::move(parsed), std::move(tokens),
                      eos == special.end() ? std::string() : eos->second);
}

Json ChatTemplate::Context(std::span<const ChatMessage> messages,
                           bool add_generation_prompt) const {
  Json context = special_;
  Json list = Json::array();
  for (const ChatMessage& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  context["messages"] = std::move(list);
  context["add_generation_prompt"] = add_generation_prompt;
  context["tools"] = nullptr;
  context["documents"] = nullptr;
  return context;
}

Result<std::string> ChatTemplate::Render(std::span<const ChatMessage> messages,
                                         bool add_generation_prompt) const {
  LF_ASSIGN_OR_RETURN(jinja::Template::Output out,
                      template_.Render(Context(messages, add_generation_prompt)));
  return std::move(out.text);
}

Result<RenderedChat> ChatTemplate::RenderWithAssistantSpans(
    std::span<const ChatMessage> messages) const {
  RenderedChat chat;
  LF_ASSIGN_OR_RETURN(jinja::Template::Output whole, template_.Render(Context(messages, false)));
  chat.text = std::move(whole.text);
  std::vector<size_t> assistants;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "assistant") assistants.push_back(i);
  }
  const std::string& name = template_.name();
  if (template_.has_generation()) {
    if (whole.generation_spans.size() != assistants.size()) {
      return InvalidArgument(name + ": the template wrote " +
                             std::to_string(whole.generation_spans.size()) +
                             " {% generation %} blocks for " + std::to_string(assistants.size()) +
                             " assistant messages; they must match one to one");
    }
    for (size_t k = 0; k < assistants.size(); ++k) {
      chat.assistant_spans.push_back(
          {whole.generation_spans[k].first, whole.generation_spans[k].second, assistants[k]});
    }
    return chat;
  }
  const std::string& w = chat.text;
  auto starts_with = [](const std::string& s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
  };
  for (size_t i : assistants) {
    std::string where = name + ": assistant message " + std::to_string(i) + ": ";
    auto prompt = Render(messages.subspan(0, i), true);
    if (!prompt.ok()) {
      return prompt.status().WithContext(where + "rendering the messages before it");
    }
    LF_ASSIGN_OR_RETURN(std::string turn, Render(messages.subspan(0, i + 1), false));
    if (!starts_with(w, *prompt) || !starts_with(turn, *prompt)) {
      return InvalidArgument(where +
                             "the conversation up to it with a generation prompt is not a prefix "
                             "of the rendering with it; the template renders earlier turns "
                             "differently, so its span cannot be found (add {% generation %} "
                             "blocks to the template)");
    }
    size_t end = 0;
    if (starts_with(w, turn)) {
      end = turn.size();
    } else if (!eos_token_.empty() && turn.size() >= prompt->size() + eos_token_.size() &&
               turn.compare(turn.size() - eos_token_.size(), eos_token_.size(), eos_token_) == 0 &&
               starts_with(w, std::string_view(turn).substr(0, turn.size() - eos_token_.size()))) {
      end = turn.size() - eos_token_.size();
    } else {
      return InvalidArgument(where +
                             "the template renders it differently when later messages follow "
                             "(e.g. it drops the reasoning of earlier turns), so its span cannot "
                             "be found (add {% generation %} blocks to the template)");
    }
    chat.assistant_spans.push_back({prompt->size(), end, i});
  }
  return chat;
}

}  // namespace lf::worker
