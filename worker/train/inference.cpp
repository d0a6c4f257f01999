// Evaluation of a text file, generation, merging and tokenization for the command line.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>

#include "common/file_util.h"
#include "worker/data/batch.h"
#include "worker/data/example.h"
#include "worker/data/jsonl_reader.h"
#include "worker/model/causal_lm.h"
#include "worker/model/tensor_io.h"
#include "worker/peft/adapter.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/tokenizer/tokenizer_files.h"
#include "worker/worker_api.h"

namespace lf::worker {
namespace {

namespace fs = std::filesystem;

// Every non-blank line as an example whose loss flags say which tokens are scored: {"text"}
// tokenized with nothing added, every token; {"messages"} rendered with the model's chat template,
// the assistant turns (as data.train_on: assistant). Errors name file and line.
Result<std::vector<Example>> ReadScoredLines(const std::string& path, const Tokenizer& tokenizer,
                                                const std::string& base_dir) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot open data file " + path);
  std::optional<ChatTemplate> chat;
  bool chat_loaded = false;
  std::vector<Example> lines;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(n);
    LF_ASSIGN_OR_RETURN(Json doc, ParseJson(line, where));
    JsonField f(doc, FieldPath());
    if (!doc.is_object()) {
      return InvalidArgument(where + ": expected an object with \"text\" or \"messages\"");
    }
    Status keys = f.CheckKeys({f.Has("messages") ? "messages" : "text"});
    if (!keys.ok()) return keys.WithContext(where);
    if (f.Has("messages")) {
      if (!chat_loaded) {
        LF_ASSIGN_OR_RETURN(chat, LoadChatTemplate(tokenizer, "", base_dir));
        chat_loaded = true;
      }
      if (!chat) {
        return InvalidArgument(where + ": messages: " + base_dir + " has no chat template to "
                               "render chat lines with");
      }
      Result<std::vector<ChatMessage>> messages = ParseChatMessages(*f.Required("messages"));
      if (!messages.ok()) return messages.status().WithContext(where);
      Result<Example> e = ChatExample(tokenizer, *chat, *messages, jobs::TrainOn::kAssistant);
      if (!e.ok()) return e.status().WithContext(where);
      lines.push_back(std::move(*e));
      continue;
    }
    Result<std::string> text = f.StringAt("text");
    if (!text.ok()) return text.status().WithContext(where);
    Example e{.ids = tokenizer.Encode(*text)};
    e.loss.assign(e.ids.size(), 1);
    lines.push_back(std::move(e));
  }
  if (lines.empty()) return InvalidArgument(path + " holds no {\"text\"} or {\"messages\"} lines");
  return lines;
}

}  // namespace

Result<EvalReport> EvaluateFile(const std::string& base_dir, const std::string& adapter_dir,
                                const std::string& data_path, const std::string& logits_path) {
  LF_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(base_dir));
  LF_ASSIGN_OR_RETURN(std::vector<Example> lines,
                      ReadScoredLines(data_path, *tokenizer, base_dir));
  LF_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> model, LoadCausalLm(base_dir));
  std::unique_ptr<Adapter> adapter;
  if (!adapter_dir.empty()) {
    LF_ASSIGN_OR_RETURN(adapter, LoadAdapter(*model, adapter_dir));
  }
  ScopedHook attached(*model, adapter.get());  // after the adapter: goes before it does
  torch::NoGradGuard no_grad;
  double loss_sum = 0;
  int64_t tokens = 0;
  const int64_t context = model->config().max_positions - model->VirtualTokens();
  for (Example& line : lines) {
    std::vector<int32_t>& ids = line.ids;
    if (static_cast<int64_t>(ids.size()) > context) ids.resize(static_cast<size_t>(context));
    if (ids.size() < 2) continue;  // nothing to predict
    std::vector<int64_t> input(ids.begin(), ids.end() - 1), target;
    for (size_t t = 1; t < ids.size(); ++t) {
      target.push_back(line.loss[t] ? ids[t] : kIgnoreIndex);
    }
    const int64_t scored = std::count_if(target.begin(), target.end(),
                                         [](int64_t id) { return id != kIgnoreIndex; });
    if (scored == 0) continue;
    torch::Tensor logits = model->Forward(torch::tensor(input, torch::kInt64).unsqueeze(0));
    if (!logits_path.empty() && tokens == 0) {
      LF_RETURN_IF_ERROR(SaveTensors({{"logits", logits[0].to(torch::kFloat32)}}, logits_path));
    }
    loss_sum += CausalLmLossSum(logits, torch::tensor(target, torch::kInt64).unsqueeze(0))
                    .item<double>();
    tokens += scored;
  }
  if (tokens == 0) return InvalidArgument(data_path + ": no line has two or more tokens to score");
  EvalReport r;
  r.tokens = tokens;
  r.loss = loss_sum / static_cast<double>(tokens);
  r.perplexity = std::exp(r.loss);
  return r;
}

// The ids generation starts from (see GenerateOptions).
Result<std::vector<int32_t>> PromptIds(const Tokenizer& tokenizer, const std::string& base_dir,
                                       const std::string& prompt, bool chat) {
  if (prompt.empty()) return InvalidArgument("--prompt is empty");
  if (chat) {
    LF_ASSIGN_OR_RETURN(std::optional<ChatTemplate> chat_template,
                        LoadChatTemplate(tokenizer, "", base_dir));
    if (!chat_template) {
      return InvalidArgument("--chat: " + base_dir + " has no chat template (no chat_template "
                             "in tokenizer_config.json, no chat_template.jinja)");
    }
    const std::vector<ChatMessage> messages = {{"user", prompt}};
    LF_ASSIGN_OR_RETURN(std::string text, chat_template->Render(messages, true));
    return tokenizer.Encode(text);  // the template writes the special tokens itself
  }
  // What tokenizer(prompt) begins with (the BOS), not what it ends with: an EOS there would stop
  // generation at once.
  std::vector<int32_t> ids = SpecialTokenAffixes(tokenizer).prefix;
  const std::vector<int32_t> text_ids = tokenizer.Encode(prompt);
  ids.insert(ids.end(), text_ids.begin(), text_ids.end());
  return ids;
}

Result<std::vector<std::string>> Generate(const std::string& base_dir,
                                          const std::vector<std::string>& adapter_dirs,
                                          const std::string& prompt,
                                          const GenerateOptions& options) {
  LF_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(base_dir));
  LF_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> model, LoadCausalLm(base_dir));
  LF_ASSIGN_OR_RETURN(std::vector<int32_t> prompt_ids,
                      PromptIds(*tokenizer, base_dir, prompt, options.chat));
  const int64_t max_new_tokens = options.max_new_tokens;
  std::vector<std::string> outputs;
  std::vector<std::string> runs = adapter_dirs.empty() ? std::vector<std::string>{""} : adapter_dirs;
  torch::NoGradGuard no_grad;
  for (const std::string& dir : runs) {
    std::unique_ptr<Adapter> adapter;  // swapped on the one loaded base
    if (!dir.empty()) {
      LF_ASSIGN_OR_RETURN(adapter, LoadAdapter(*model, dir));
    }
    // Declared after the adapter: the model lets go of it before the next one replaces it.
    ScopedHook attached(*model, adapter.get());
    const int64_t context = model->config().max_positions - model->VirtualTokens();
    if (context < 1) {
      return InvalidArgument("adapter " + dir + ": its virtual tokens fill the model's whole "
                             "context of " + std::to_string(model->config().max_positions));
    }
    std::vector<int64_t> ids(prompt_ids.begin(), prompt_ids.end());
    std::vector<int32_t> generated;
    for (int64_t i = 0; i < max_new_tokens; ++i) {
      const int64_t start = std::max<int64_t>(0, static_cast<int64_t>(ids.size()) - context);
      torch::Tensor input =
          torch::tensor(std::vector<int64_t>(ids.begin() + start, ids.end()), torch::kInt64)
              .unsqueeze(0);
      const int64_t next = model->Forward(input).select(1, -1).argmax(-1).item<int64_t>();
      if (tokenizer->eos_id() && next == *tokenizer->eos_id()) break;
      ids.push_back(next);
      generated.push_back(static_cast<int32_t>(next));
    }
    outputs.push_back(tokenizer->Decode(generated));
  }
  return outputs;
}

Status MergeAdapter(const std::string& base_dir, const std::string& adapter_dir,
                    const std::string& out_dir) {
  if (fs::exists(out_dir) && !fs::is_empty(out_dir)) {
    return AlreadyExists("--out " + out_dir + " exists and is not empty; choose a new folder");
  }
  LF_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> model, LoadCausalLm(base_dir));
  LF_ASSIGN_OR_RETURN(std::unique_ptr<Adapter> adapter, LoadAdapter(*model, adapter_dir));
  LF_RETURN_IF_ERROR(adapter->MergeInto(*model));  // never attached: the merged base alone
  LF_RETURN_IF_ERROR(SaveCausalLm(*model, out_dir));
  return CopyTokenizerFiles(base_dir, out_dir);
}

Result<std::vector<int32_t>> TokenizeText(const std::string& tokenizer_dir,
                                          const std::string& text) {
  LF_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(tokenizer_dir));
  return tokenizer->Encode(text);
}

}  // namespace lf::worker
