// Training examples as token ids with a per-token loss flag: what the JSONL reader produces and
// the packers (packed_loader.h, batch.h) consume. Torch-free on purpose: the trainer turns batches
// into tensors. Values only; the builders only call the Tokenizer's const methods (thread-safe).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "worker/tokenizer/tokenizer.h"

namespace lf::worker {

// One example's tokens. loss[i] == 1 when token i is a prediction target, i.e. the model is
// trained to predict ids[i] from the tokens before it. ids.size() == loss.size() >= 1.
struct Example {
  std::vector<int32_t> ids;
  std::vector<uint8_t> loss;
};

// {"text"}: Encode(text) + [eos], every token a target. In packed training the first token is
// predicted from the previous example's EOS, as Hugging Face's run_clm packing does.
Example TextExample(const Tokenizer& tokenizer, std::string_view text, int32_t eos_id);

// {"prompt","completion"}: Encode(prompt) + Encode(completion) + [eos]; only the completion and
// the EOS are targets. Prompt and completion are tokenized separately, so a BPE merge never spans
// the boundary and the mask is exact (write the separating space into one of them yourself).
Example PromptCompletionExample(const Tokenizer& tokenizer, std::string_view prompt,
                                std::string_view completion, int32_t eos_id);

struct DataStats {
  int64_t examples = 0;
  int64_t tokens = 0;       // including each example's EOS
  int64_t loss_tokens = 0;  // tokens with loss == 1
};
DataStats CountTokens(std::span<const Example> examples);

}  // namespace lf::worker
