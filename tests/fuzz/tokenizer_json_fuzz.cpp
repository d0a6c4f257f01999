// Fuzz target: loading a tokenizer.json (worker/tokenizer: ParseTokenizerJson and the BPE
// tokenizer built from it, as LoadTokenizer does for a model folder, without the file I/O) and
// tokenizer_config.json's parser on the same document. Invariants: nothing throws; a tokenizer
// that loads encodes a fixed set of texts (ASCII, accents, emoji, an added token, invalid UTF-8)
// to ids inside its vocabulary (tokenizer_check.h).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer_check.h"
#include "worker/tokenizer/bpe_tokenizer.h"
#include "worker/tokenizer/tokenizer_config.h"
#include "worker/tokenizer/tokenizer_json.h"

namespace {

constexpr std::string_view kTexts[] = {
    "Hello world! The patient's dose is 12.5 mg.",
    "  leading spaces\tand\ttabs\n\nnew lines ",
    "caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80",
    "<|endoftext|><s></s><unk> [INST] tokens <|begin_of_text|>",
    "bad \xff\xfe utf-8 \xc3 cut",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  lf::Result<lf::Json> doc = lf::ParseJson(text, "tokenizer.json");
  if (!doc.ok()) return 0;
  (void)lf::worker::ParseTokenizerConfig(&*doc, std::nullopt);
  lf::Result<lf::worker::BpeTokenizerSpec> spec = lf::worker::ParseTokenizerJson(*doc);
  if (!spec.ok()) {
    LF_CHECK_MSG(!spec.status().message().empty(), "a refused tokenizer.json without a reason");
    return 0;
  }
  std::unique_ptr<lf::worker::Tokenizer> tokenizer =
      lf::worker::MakeBpeTokenizer(std::move(spec).value(), {});
  for (std::string_view sample : kTexts) lf::fuzz::CheckEncoding(*tokenizer, sample);
  return 0;
}
