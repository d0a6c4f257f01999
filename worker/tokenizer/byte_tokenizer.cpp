// The byte tokenizer of lorafleet's own small models, and its tokenizer.json.

#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "worker/tokenizer/byte_level.h"
#include "worker/tokenizer/tokenizer.h"

namespace lf::worker {
namespace {

constexpr std::string_view kEndOfText = "<|endoftext|>";
constexpr int32_t kEndOfTextId = 256;

class ByteTokenizer final : public Tokenizer {
 public:
  ByteTokenizer() {
    // What its tokenizer_config.json says (TokenizerConfigJson below).
    config_.bos_token = config_.eos_token = config_.unk_token = std::string(kEndOfText);
  }

  std::vector<int32_t> Encode(std::string_view text) const override {
    return EncodeWithOffsets(text).ids;
  }

  // One byte per token; "<|endoftext|>" covers its 13 bytes.
  Encoding EncodeWithOffsets(std::string_view text) const override {
    Encoding out;
    out.ids.reserve(text.size());
    out.offsets.reserve(text.size());
    size_t pos = 0;
    while (pos < text.size()) {
      size_t eot = text.find(kEndOfText, pos);
      size_t end = eot == std::string_view::npos ? text.size() : eot;
      for (; pos < end; ++pos) {
        out.ids.push_back(static_cast<uint8_t>(text[pos]));
        out.offsets.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(pos + 1)});
      }
      if (eot != std::string_view::npos) {
        out.ids.push_back(kEndOfTextId);
        out.offsets.push_back(
            {static_cast<uint32_t>(pos), static_cast<uint32_t>(pos + kEndOfText.size())});
        pos += kEndOfText.size();
      }
    }
    return out;
  }

  // Its post-processor adds nothing, as GPT-2's.
  std::vector<int32_t> AddSpecialTokens(std::span<const int32_t> ids) const override {
    return {ids.begin(), ids.end()};
  }
  std::optional<int32_t> bos_id() const override { return kEndOfTextId; }
  std::optional<int32_t> pad_id() const override { return std::nullopt; }
  const TokenizerConfig& config() const override { return config_; }

  std::string Decode(std::span<const int32_t> ids) const override {
    std::string out;
    out.reserve(ids.size());
    for (int32_t id : ids) {
      if (id >= 0 && id < 256) {
        out.push_back(static_cast<char>(id));
      } else if (id == kEndOfTextId) {
        out += kEndOfText;
      }  // other ids are skipped, as Hugging Face does
    }
    return out;
  }

  int32_t vocab_size() const override { return kEndOfTextId + 1; }
  std::optional<int32_t> eos_id() const override { return kEndOfTextId; }

  // Tokens are spelled as in the saved tokenizer.json: byte b is ByteToUnicode(b) ("Ġ" = 32).
  std::optional<int32_t> TokenToId(std::string_view token) const override {
    if (token == kEndOfText) return kEndOfTextId;
    std::optional<std::string> bytes = ByteLevelToBytes(token);
    if (!bytes || bytes->size() != 1) return std::nullopt;
    return static_cast<uint8_t>((*bytes)[0]);
  }

 private:
  TokenizerConfig config_;
};

nlohmann::ordered_json ByteLevelStep(bool add_prefix_space, bool trim_offsets) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", add_prefix_space},
          {"trim_offsets", trim_offsets},
          {"use_regex", true}};
}

// The layout of GPT-2's tokenizer.json, as `tokenizers` writes it, with no merges.
std::string TokenizerJson() {
  using OrderedJson = nlohmann::ordered_json;
  OrderedJson eos = {{"id", kEndOfTextId}, {"content", kEndOfText}, {"single_word", false},
                     {"lstrip", false},    {"rstrip", false},       {"normalized", false},
                     {"special", true}};
  OrderedJson vocab = OrderedJson::object();
  for (int b = 0; b < 256; ++b) vocab[std::string(ByteToUnicode(static_cast<uint8_t>(b)))] = b;
  OrderedJson model = {{"type", "BPE"},
                       {"dropout", nullptr},
                       {"unk_token", nullptr},
                       {"continuing_subword_prefix", nullptr},
                       {"end_of_word_suffix", nullptr},
                       {"fuse_unk", false},
                       {"byte_fallback", false},
                       {"ignore_merges", false},
                       {"vocab", vocab},
                       {"merges", OrderedJson::array()}};
  OrderedJson doc = {{"version", "1.0"},
                     {"truncation", nullptr},
                     {"padding", nullptr},
                     {"added_tokens", OrderedJson::array({eos})},
                     {"normalizer", nullptr},
                     {"pre_tokenizer", ByteLevelStep(false, true)},
                     {"post_processor", ByteLevelStep(true, false)},
                     {"decoder", ByteLevelStep(true, true)},
                     {"model", model}};
  return doc.dump(2) + "\n";
}

// What transformers' AutoTokenizer reads beside tokenizer.json.
std::string TokenizerConfigJson() {
  using OrderedJson = nlohmann::ordered_json;
  OrderedJson eos = {{"content", kEndOfText}, {"lstrip", false},      {"normalized", false},
                     {"rstrip", false},       {"single_word", false}, {"special", true}};
  OrderedJson doc = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                     {"add_prefix_space", false},
                     {"added_tokens_decoder", {{std::to_string(kEndOfTextId), eos}}},
                     {"bos_token", kEndOfText},
                     {"eos_token", kEndOfText},
                     {"unk_token", kEndOfText},
                     {"clean_up_tokenization_spaces", false}};
  return doc.dump(2) + "\n";
}

}  // namespace

std::unique_ptr<Tokenizer> MakeByteTokenizer() { return std::make_unique<ByteTokenizer>(); }

Status SaveByteTokenizer(const std::string& model_dir) {
  LF_RETURN_IF_ERROR(CreateDirectories(model_dir));
  const std::filesystem::path dir(model_dir);
  LF_RETURN_IF_ERROR(WriteFileAtomically((dir / "tokenizer.json").string(), TokenizerJson()));
  return WriteFileAtomically((dir / "tokenizer_config.json").string(), TokenizerConfigJson());
}

}  // namespace lf::worker
