// LoadTokenizer: finds the tokenizer files of a Hugging Face model folder and builds a tokenizer.

#include <filesystem>

#include "common/file_util.h"
#include "common/json_reader.h"
#include "worker/tokenizer/bpe_tokenizer.h"
#include "worker/tokenizer/byte_level.h"
#include "worker/tokenizer/sentencepiece_tokenizer.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/tokenizer/tokenizer_config.h"
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
  if (!spec.merges.empty() || spec.vocab.size() != 256 || !spec.byte_level ||
      spec.byte_level->add_prefix_space || spec.normalizer || !spec.post.prefix.empty() ||
      !spec.post.suffix.empty() || spec.model.ignore_merges || spec.added.size() != 1) {
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

std::unique_ptr<Tokenizer> Build(BpeTokenizerSpec spec, TokenizerConfig config) {
  if (IsByteTokenizer(spec)) return MakeByteTokenizer();
  return MakeBpeTokenizer(std::move(spec), std::move(config));
}

Result<Json> ReadJson(const std::string& path) {
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, kMaxTokenizerFileBytes));
  return ParseJson(text, path);  // a syntax error names the path and the byte offset
}

// tokenizer_config.json and chat_template.jinja of the folder, when present.
Result<TokenizerConfigFile> ReadConfig(const std::string& model_dir, std::optional<Json>& doc) {
  const std::string config_path = (fs::path(model_dir) / "tokenizer_config.json").string();
  const std::string jinja_path = (fs::path(model_dir) / "chat_template.jinja").string();
  if (FileExists(config_path)) {
    LF_ASSIGN_OR_RETURN(doc, ReadJson(config_path));
  }
  std::optional<std::string> jinja;
  if (FileExists(jinja_path)) {
    LF_ASSIGN_OR_RETURN(jinja, ReadFileToString(jinja_path, kMaxSettingsFileBytes));
  }
  Result<TokenizerConfigFile> config = ParseTokenizerConfig(doc ? &*doc : nullptr, jinja);
  if (!config.ok()) return config.status().WithContext(model_dir);
  return config;
}

Result<std::unique_ptr<Tokenizer>> LoadTokenizerJson(const std::string& model_dir,
                                                     const std::string& path) {
  LF_ASSIGN_OR_RETURN(Json doc, ReadJson(path));
  Result<BpeTokenizerSpec> spec = ParseTokenizerJson(doc);
  if (!spec.ok()) return spec.status().WithContext(path);
  std::optional<Json> config_doc;
  LF_ASSIGN_OR_RETURN(TokenizerConfigFile config, ReadConfig(model_dir, config_doc));
  return Build(std::move(spec).value(), std::move(config.config));
}

Result<std::unique_ptr<Tokenizer>> LoadVocabAndMerges(const std::string& model_dir) {
  const std::string vocab_path = (fs::path(model_dir) / "vocab.json").string();
  const std::string merges_path = (fs::path(model_dir) / "merges.txt").string();
  LF_ASSIGN_OR_RETURN(Json vocab, ReadJson(vocab_path));
  LF_ASSIGN_OR_RETURN(std::string merges, ReadFileToString(merges_path, kMaxTokenizerFileBytes));
  Result<BpeTokenizerSpec> spec = ParseVocabAndMerges(vocab, merges);
  if (!spec.ok()) return spec.status().WithContext(model_dir);
  std::optional<Json> config_doc;
  LF_ASSIGN_OR_RETURN(TokenizerConfigFile config, ReadConfig(model_dir, config_doc));
  Status applied = ApplyTokenizerConfig(config_doc ? &*config_doc : nullptr, *spec);
  if (!applied.ok()) return applied.WithContext(model_dir);
  spec->pre_tokenizer = MakeByteLevelPreTokenizer(spec->byte_level->add_prefix_space, true);
  return Build(std::move(spec).value(), std::move(config.config));
}

Result<std::unique_ptr<Tokenizer>> LoadSentencePiece(const std::string& model_dir,
                                                     const std::string& path) {
  std::optional<Json> config_doc;
  LF_ASSIGN_OR_RETURN(TokenizerConfigFile config, ReadConfig(model_dir, config_doc));
  return LoadSentencePieceTokenizer(path, std::move(config));
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
  if (FileExists(json_path)) return LoadTokenizerJson(model_dir, json_path);
  if (FileExists((fs::path(model_dir) / "vocab.json").string()) ||
      FileExists((fs::path(model_dir) / "merges.txt").string())) {
    return LoadVocabAndMerges(model_dir);  // a missing one of the two is named in the error
  }
  const std::string spm_path = (fs::path(model_dir) / "tokenizer.model").string();
  if (FileExists(spm_path)) return LoadSentencePiece(model_dir, spm_path);
  return NotFound(model_dir +
                  ": no tokenizer found; expected tokenizer.json, or vocab.json and "
                  "merges.txt, or tokenizer.model (save it with Hugging Face's "
                  "tokenizer.save_pretrained(folder))");
}

}  // namespace lf::worker
