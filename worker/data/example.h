// Training examples as token ids with a per-token loss flag: what the JSONL reader produces and
// the packers (packed_loader.h, batch.h) consume. Torch-free on purpose: the trainer turns batches
// into tensors. Values only; the builders only call the Tokenizer's const methods (thread-safe).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "jobs/job_spec.h"
#include "worker/chat/chat_template.h"
#include "worker/tokenizer/tokenizer.h"

namespace lf::worker {

// One example's tokens. loss[i] == 1 when token i is a prediction target, i.e. the model is
// trained to predict ids[i] from the tokens before it. ids.size() == loss.size() >= 1.
struct Example {
  std::vector<int32_t> ids;
  std::vector<uint8_t> loss;
};

// What the tokenizer's post-processor puts before and after one sequence's ids
// (AddSpecialTokens), found by giving it a single id that no vocabulary has: Llama 3's
// <|begin_of_text|> as the prefix, nothing for GPT-2.
struct SpecialAffixes {
  std::vector<int32_t> prefix, suffix;
};
SpecialAffixes SpecialTokenAffixes(const Tokenizer& tokenizer);

// {"text"}: the ids Hugging Face's tokenizer(text) gives (Encode(text) with the special tokens
// the post-processor adds: <|begin_of_text|> for Llama 3, <s> for Llama 2, none for GPT-2), then
// [eos] unless they already end with it; every token a target. In stream packing the first token
// is predicted from the previous example's EOS, as Hugging Face's run_clm packing does.
Example TextExample(const Tokenizer& tokenizer, std::string_view text, int32_t eos_id);

// {"prompt","completion"}: the special tokens the post-processor puts first, Encode(prompt),
// Encode(completion), those it puts last, and [eos] unless they end with it; only the completion
// and what follows it are targets. Prompt and completion are tokenized separately, so a BPE merge
// never spans the boundary and the mask is exact (write the separating space into one of them).
Example PromptCompletionExample(const Tokenizer& tokenizer, std::string_view prompt,
                                std::string_view completion, int32_t eos_id);

// The template chat examples of a job are rendered with: `template_file` (data.chat_template)
// when given, else the base model's own (its tokenizer's chat_templates["default"]); nullopt
// when neither exists. The tokenizer's special token strings (bos_token, eos_token, pad_token,
// unk_token) are the template's variables, as transformers passes them. `model_dir` names the
// model's template in errors.
Result<std::optional<ChatTemplate>> LoadChatTemplate(const Tokenizer& tokenizer,
                                                     const std::string& template_file,
                                                     const std::string& model_dir);

// {"messages": [...]}: the conversation as `chat` renders it, tokenized as Hugging Face's
// apply_chat_template(messages, tokenize=True) does (no special tokens added: the template writes
// them). Targets by `train_on`: the tokens that overlap an assistant message's span (its content
// and the end-of-turn marker after it; see ChatTemplate::RenderWithAssistantSpans), those of the
// last assistant message only, or every token. Errors: the template's, or no assistant message
// when train_on needs one.
Result<Example> ChatExample(const Tokenizer& tokenizer, const ChatTemplate& chat,
                            std::span<const ChatMessage> messages, jobs::TrainOn train_on);

struct DataStats {
  int64_t examples = 0;
  int64_t tokens = 0;       // including each example's EOS
  int64_t loss_tokens = 0;  // tokens with loss == 1
};
DataStats CountTokens(std::span<const Example> examples);

}  // namespace lf::worker
