#include "worker/data/example.h"

namespace lf::worker {

Example TextExample(const Tokenizer& tokenizer, std::string_view text, int32_t eos_id) {
  Example example;
  example.ids = tokenizer.Encode(text);
  example.ids.push_back(eos_id);
  example.loss.assign(example.ids.size(), 1);
  return example;
}

Example PromptCompletionExample(const Tokenizer& tokenizer, std::string_view prompt,
                                std::string_view completion, int32_t eos_id) {
  Example example;
  example.ids = tokenizer.Encode(prompt);
  example.loss.assign(example.ids.size(), 0);
  std::vector<int32_t> completion_ids = tokenizer.Encode(completion);
  example.ids.insert(example.ids.end(), completion_ids.begin(), completion_ids.end());
  example.ids.push_back(eos_id);
  example.loss.resize(example.ids.size(), 1);
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
