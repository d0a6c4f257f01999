// LoadTokenizer: finds the tokenizer files of a Hugging Face model folder and builds a tokenizer.

#include <filesystem>

#include "common/file_util.h"
#include "common/json_reader.h"
#include "worker/tokenizer/bpe_tokenizer.h"
#include "worker/tokenizer/byte_level.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/tokenizer/tokenizer_json.h"

namespace lf::worker {
namespace {

namespace fs = std::filesystem;

bool FileExists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// What SaveByteTokenizer writes: no merges, byte b's character has id b, "<|endoftext|>" = 256.
// It is loaded as the byte tokenizer itself, so that the ids of any input, invalid UTF-8
// included, are those the model was trained with.
bool IsByteTokenizer(const BpeTokenizerSpec& spec) {
  if (!spec.merges.empty() || spec.vocab.size() != 256 || spec.byte_level.add_prefix_space ||
      spec.model.ignore_merges || spec.added.size() != 1) {
    return false;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = spec.vocab.find(ByteToUnicode(static_cast<uint8_t>(b)));
    if (it == spec.vocab.end() || it->second != b) return false;
  }
  const AddedToken& eos = spec.added[0];
  return eos.content == "<|endoftext|>" && eos.id == 256 && eos.special && !eos.single_word &&
         !eos.lstrip && !eos.rstrip;
}

std::unique_ptr<Tokenizer> Build(BpeTokenizerSpec spec) {
  if (IsByteTokenizer(spec)) return MakeByteTokenizer();
  auto model = std::make_unique<BpeModel>(std::move(spec.vocab), spec.merges, spec.model);
  return MakeBpeTokenizer(std::move(model), std::move(spec.added), spec.byte_level);
}

Result<Json> ReadJson(const std::string& path) {
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseJson(text, path);  // a syntax error names the path and the byte offset
}

Result<std::unique_ptr<Tokenizer>> LoadTokenizerJson(const std::string& path) {
  LF_ASSIGN_OR_RETURN(Json doc, ReadJson(path));
  Result<BpeTokenizerSpec> spec = ParseTokenizerJson(doc);
  if (!spec.ok()) return spec.status().WithContext(path);
  return Build(std::move(spec).value());
}

Result<std::unique_ptr<Tokenizer>> LoadVocabAndMerges(const std::string& model_dir) {
  const std::string vocab_path = (fs::path(model_dir) / "vocab.json").string();
  const std::string merges_path = (fs::path(model_dir) / "merges.txt").string();
  const std::string config_path = (fs::path(model_dir) / "tokenizer_config.json").string();
  LF_ASSIGN_OR_RETURN(Json vocab, ReadJson(vocab_path));
  LF_ASSIGN_OR_RETURN(std::string merges, ReadFileToString(merges_path));
  Result<BpeTokenizerSpec> spec = ParseVocabAndMerges(vocab, merges);
  if (!spec.ok()) return spec.status().WithContext(model_dir);
  std::optional<Json> config;
  if (FileExists(config_path)) {
    LF_ASSIGN_OR_RETURN(config, ReadJson(config_path));
  }
  Status applied = ApplyTokenizerConfig(config ? &*config : nullptr, *spec);
  if (!applied.ok()) return applied.WithContext(model_dir);
  return Build(std::move(spec).value());
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) {
    return NotFound(model_dir +
                    ": no such folder; expected a Hugging Face model folder with "
                    "tokenizer.json, or vocab.json and merges.txt");
  }
  const std::string json_path = (fs::path(model_dir) / "tokenizer.json").string();
  if (FileExists(json_path)) return LoadTokenizerJson(json_path);
  if (FileExists((fs::path(model_dir) / "vocab.json").string()) ||
      FileExists((fs::path(model_dir) / "merges.txt").string())) {
    return LoadVocabAndMerges(model_dir);  // a missing one of the two is named in the error
  }
  return NotFound(model_dir +
                  ": no tokenizer found; expected tokenizer.json, or vocab.json and "
                  "merges.txt (save it with Hugging Face's "
                  "tokenizer.save_pretrained(folder))");
}

}  // namespace lf::worker
