// Fuzz target: encoding arbitrary text with real tokenizers (worker/tokenizer), the bundled
// models' and the test fixtures' of each family (byte-level BPE with Llama 3's and Qwen2's
// regexes, Metaspace/SentencePiece-style BPE with byte fallback, normalizers, split rules), the
// byte tokenizer and, in the ctest run, a SentencePiece tokenizer.model.
// The first byte picks the tokenizer, the rest is the text. Invariants: tokenizer_check.h; and
// the byte tokenizer of lorafleet's own models decodes any bytes back exactly.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer_check.h"

namespace {

// The byte tokenizer's index in Tokenizers(): after the 13 folders.
constexpr size_t kByteTokenizer = 13;

const std::vector<std::unique_ptr<lf::worker::Tokenizer>>& Tokenizers() {
  static const auto* tokenizers = [] {
    const std::string root = LF_FUZZ_SRCDIR;
    const std::string families = root + "/tests/unit/worker/tokenizer/testdata/families/";
    auto* out = new std::vector<std::unique_ptr<lf::worker::Tokenizer>>;
    auto load = [&](const std::string& dir) {
      auto tokenizer = lf::worker::LoadTokenizer(dir);
      LF_CHECK_OK(tokenizer);
      out->push_back(std::move(tokenizer).value());
    };
    for (const std::string& dir :
         {root + "/examples/models/tiny-gpt2", root + "/examples/models/tiny-llama3",
          families + "llama3", families + "qwen2", families + "gemma", families + "llama2",
          families + "phi3", families + "tinyllama_metaspace", families + "stages_normalizers",
          families + "stages_split", families + "stages_bytelevel", families + "smollm2",
          families + "mistral"}) {
      load(dir);
    }
    out->push_back(lf::worker::MakeByteTokenizer());
    LF_CHECK(out->size() == kByteTokenizer + 1);
#ifndef LF_FUZZ_SANITIZED
    // libsentencepiece, through the plugin, which AddressSanitizer cannot load (the plugin is
    // opened with RTLD_DEEPBIND): fuzzed by the ctest run only.
    load(families + "sentencepiece");
#endif
    return out;
  }();
  return *tokenizers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& tokenizers = Tokenizers();
  const lf::worker::Tokenizer& tokenizer = *tokenizers[data[0] % tokenizers.size()];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  lf::fuzz::CheckEncoding(tokenizer, text);
  if (&tokenizer == tokenizers[kByteTokenizer].get()) {
    const std::vector<int32_t> ids = tokenizer.Encode(text);
    LF_CHECK_MSG(tokenizer.Decode(ids) == text, "the byte tokenizer does not round-trip");
  }
  return 0;
}
