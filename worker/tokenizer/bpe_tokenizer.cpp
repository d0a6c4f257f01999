#include "worker/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <unordered_map>

#include "worker/tokenizer/byte_level.h"
#include "common/utf8.h"

namespace lf::worker {
namespace {

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(std::unique_ptr<BpeModel> model, const std::vector<AddedToken>& added,
               ByteLevelOptions options)
      : model_(std::move(model)), matcher_(added), options_(options) {
    int32_t max_id = -1;
    for (const auto& [token, id] : model_->vocab()) max_id = std::max(max_id, id);
    for (const AddedToken& token : added) {
      added_ids_.insert_or_assign(token.content, token.id);  // the last one wins, as in HF
      max_id = std::max(max_id, token.id);
    }
    vocab_size_ = max_id + 1;
    decoded_.resize(static_cast<size_t>(vocab_size_));
    known_.resize(static_cast<size_t>(vocab_size_), false);
    // An added token decodes to its content. Where its id is also a model token, the model's
    // bytes win: BPE output can produce that id too, and Hugging Face decodes both that way.
    for (const AddedToken& token : added) {
      decoded_[token.id] = token.content;
      known_[token.id] = true;
    }
    for (const auto& [token, id] : model_->vocab()) {
      decoded_[id] = ByteLevelToBytes(token).value_or(token);
      known_[id] = true;
    }
    eos_id_ = TokenToId("<|endoftext|>");
    if (!eos_id_) eos_id_ = TokenToId("</s>");
  }

  std::vector<int32_t> Encode(std::string_view text) const override {
    std::string repaired;
    if (!utf8::IsValid(text)) {
      repaired = utf8::ReplaceInvalid(text);
      text = repaired;
    }
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 1);
    if (matcher_.empty()) {
      EncodeText(text, ids);
      return ids;
    }
    std::vector<AddedTokenMatcher::Segment> segments;
    matcher_.Split(text, segments);
    for (const auto& s : segments) {
      if (s.id >= 0) {
        ids.push_back(s.id);
      } else {
        EncodeText(text.substr(s.begin, s.end - s.begin), ids);
      }
    }
    return ids;
  }

  std::string Decode(std::span<const int32_t> ids) const override {
    std::string out;
    for (int32_t id : ids) {
      // Unknown ids are skipped, as Hugging Face does.
      if (id >= 0 && id < vocab_size_ && known_[id]) out += decoded_[id];
    }
    return out;
  }

  int32_t vocab_size() const override { return vocab_size_; }
  std::optional<int32_t> eos_id() const override { return eos_id_; }

  std::optional<int32_t> TokenToId(std::string_view token) const override {
    auto it = added_ids_.find(token);
    if (it != added_ids_.end()) return it->second;
    return model_->TokenToId(token);
  }

 private:
  // One stretch of text between added tokens.
  void EncodeText(std::string_view text, std::vector<int32_t>& ids) const {
    if (text.empty()) return;
    std::string prefixed;
    if (options_.add_prefix_space && text.front() != ' ') {
      prefixed.reserve(text.size() + 1);
      prefixed.push_back(' ');
      prefixed.append(text);
      text = prefixed;
    }
    if (!options_.use_regex) {
      model_->Tokenize(text, ids);
      return;
    }
    std::vector<std::string_view> pieces;
    RegexSplitter::Gpt2().Split(text, pieces);
    for (std::string_view piece : pieces) model_->Tokenize(piece, ids);
  }

  std::unique_ptr<BpeModel> model_;
  AddedTokenMatcher matcher_;
  ByteLevelOptions options_;
  TokenIds added_ids_;
  int32_t vocab_size_ = 0;
  std::vector<std::string> decoded_;  // bytes of each id
  std::vector<bool> known_;           // whether an id has a token at all
  std::optional<int32_t> eos_id_;
};

}  // namespace

std::unique_ptr<Tokenizer> MakeBpeTokenizer(std::unique_ptr<BpeModel> model,
                                            std::vector<AddedToken> added,
                                            ByteLevelOptions options) {
  return std::make_unique<BpeTokenizer>(std::move(model), added, options);
}

}  // namespace lf::worker
