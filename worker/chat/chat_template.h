// Chat templates (tokenizer_config.json's chat_template) rendered as transformers'
// apply_chat_template(messages, tokenize=False, add_generation_prompt=...) renders them, and the
// byte spans of the assistant turns that supervised fine-tuning trains on. Immutable after
// Create: Render and RenderWithAssistantSpans may run from several threads at once.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/chat/jinja.h"

namespace lf::worker {

struct ChatMessage {
  std::string role;
  std::string content;
};

// [begin, end) bytes of RenderedChat::text; `message` indexes the rendered messages.
struct ChatSpan {
  size_t begin = 0;
  size_t end = 0;
  size_t message = 0;
};

struct RenderedChat {
  std::string text;
  std::vector<ChatSpan> assistant_spans;
};

class ChatTemplate {
 public:
  // special: bos_token, eos_token, pad_token, unk_token strings exposed to the template as
  // variables (transformers passes the tokenizer's special_tokens_map the same way).
  static Result<ChatTemplate> Create(std::string source, std::string name,
                                     const std::map<std::string, std::string>& special);

  // transformers' apply_chat_template(messages, tokenize=False, add_generation_prompt=...):
  // the template sees messages, add_generation_prompt, tools=None, documents=None and `special`.
  Result<std::string> Render(std::span<const ChatMessage> messages,
                             bool add_generation_prompt) const;

  // The whole conversation (add_generation_prompt=false) and, for each assistant message, the
  // bytes the model must learn to produce.
  // - Templates with {% generation %} blocks: the blocks' spans, as transformers'
  //   return_assistant_tokens_mask marks them; the k-th block belongs to the k-th assistant
  //   message, and the counts must match.
  // - Other templates: with P = Render(messages[:i], true), F = Render(messages[:i+1], false)
  //   and W = the whole rendering, W and F must start with P; the span is W[|P|, |F|): the
  //   message as rendered plus everything the template writes after it before the next turn
  //   begins (Llama 3: content + "<|eot_id|>"; ChatML and Qwen: content + "<|im_end|>\n";
  //   Gemma: content + "<end_of_turn>\n"; Mistral: content + "</s>"). W must start with F, or,
  //   for templates that close the conversation with eos_token when no generation prompt is
  //   asked (Phi-3), with F less that eos_token, which then stays out of the span (it is in
  //   the span of the last message, where W ends with it). Anything else is an error naming
  //   the message: the template renders earlier turns differently from the last one (Qwen3
  //   drops the reasoning block of earlier turns), so no prefix rendering can delimit them.
  Result<RenderedChat> RenderWithAssistantSpans(std::span<const ChatMessage> messages) const;

  const jinja::Template& jinja_template() const { return template_; }

 private:
  ChatTemplate(jinja::Template t, Json special, std::string eos)
      : template_(std::move(t)), special_(std::move(special)), eos_token_(std::move(eos)) {}
  Json Context(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

  jinja::Template template_;
  Json special_;  // an object of the special token strings
  std::string eos_token_;
};

}  // namespace lf::worker
