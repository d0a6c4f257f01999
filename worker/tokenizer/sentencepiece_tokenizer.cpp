#include "worker/tokenizer/sentencepiece_tokenizer.h"

#include <algorithm>

#include "worker/tokenizer/added_tokens.h"
#include "worker/tokenizer/normalized_text.h"
#include "worker/tokenizer/sentencepiece_model.h"

namespace lf::worker {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(std::unique_ptr<SentencePieceModel> sp,
                         TokenizerConfigFile file)
      : sp_(std::move(sp)),
        config_(std::move(file.config)),
        add_bos_(file.add_bos_token.value_or(true)),
        add_eos_(file.add_eos_token.value_or(false)),
        matcher_(SpecialTokens()) {
    bos_id_ = Special(config_.bos_token, sp_->bos_id());
    eos_id_ = Special(config_.eos_token, sp_->eos_id());
    pad_id_ = config_.pad_token ? TokenToId(*config_.pad_token) : std::nullopt;
  }

  std::vector<int32_t> Encode(std::string_view text) const override {
    return EncodeWithOffsets(text).ids;
  }

  Encoding EncodeWithOffsets(std::string_view input) const override {
    // Invalid UTF-8 is read as Python's decode(errors="replace") reads it; `source` maps each
    // byte of that text back to the input.
    const NormalizedText source = NormalizedText::FromInput(input);
    const std::string_view text = source.text;
    Encoding out;
    auto emit = [&](int32_t id, size_t begin, size_t end) {
      out.ids.push_back(id);
      if (end > begin) {
        out.offsets.push_back(source.OriginalRange(begin, end));
      } else {  // a piece that covers no text: empty, where it stands
        const uint32_t at = begin < source.align.size() ? source.align[begin].begin
                                                        : static_cast<uint32_t>(input.size());
        out.offsets.push_back({at, at});
      }
    };
    std::vector<AddedTokenMatcher::Segment> segments;
    matcher_.Split(text, segments);
    for (const auto& s : segments) {
      if (s.id >= 0) {
        emit(s.id, s.begin, s.end);
        continue;
      }
      const std::string_view stretch = text.substr(s.begin, s.end - s.begin);
      for (const SentencePieceModel::Piece& piece : sp_->Encode(stretch)) {
        emit(piece.id, s.begin + piece.begin, s.begin + std::max(piece.begin, piece.end));
      }
    }
    return out;
  }

  std::vector<int32_t> AddSpecialTokens(std::span<const int32_t> ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 2);
    if (add_bos_ && bos_id_) out.push_back(*bos_id_);
    out.insert(out.end(), ids.begin(), ids.end());
    if (add_eos_ && eos_id_) out.push_back(*eos_id_);
    return out;
  }

  // SentencePiece's decode of each run of ordinary ids; control tokens as their text.
  std::string Decode(std::span<const int32_t> ids) const override {
    std::string out;
    std::vector<int> run;
    auto flush = [&] {
      if (!run.empty()) out += sp_->Decode(run);
      run.clear();
    };
    for (int32_t id : ids) {
      if (id < 0 || id >= sp_->PieceSize()) continue;  // unknown ids are skipped
      if (sp_->IsControl(id)) {
        flush();
        out += sp_->IdToPiece(id);
      } else {
        run.push_back(id);
      }
    }
    flush();
    return out;
  }

  int32_t vocab_size() const override { return sp_->PieceSize(); }
  std::optional<int32_t> eos_id() const override { return eos_id_; }
  std::optional<int32_t> bos_id() const override { return bos_id_; }
  std::optional<int32_t> pad_id() const override { return pad_id_; }
  const TokenizerConfig& config() const override { return config_; }

  std::optional<int32_t> TokenToId(std::string_view token) const override {
    const int id = sp_->PieceToId(token);
    // PieceToId answers unk_id for a piece it does not know.
    if (id == sp_->unk_id() && token != sp_->IdToPiece(id)) return std::nullopt;
    return id;
  }

 private:
  std::optional<int32_t> Special(const std::optional<std::string>& token, int fallback) const {
    if (token) return TokenToId(*token);
    if (fallback < 0) return std::nullopt;
    return fallback;
  }

  // The control and unknown pieces (<s>, </s>, <unk>) and the configured special tokens:
  // the slow tokenizer matches them in the text before SentencePiece sees it.
  std::vector<AddedToken> SpecialTokens() const {
    std::vector<AddedToken> tokens;
    for (int id = 0; id < sp_->PieceSize(); ++id) {
      if (sp_->IsControl(id) || sp_->IsUnknown(id)) {
        const std::string piece = sp_->IdToPiece(id);
        if (!piece.empty()) {
          tokens.push_back({.content = piece, .id = id, .special = true, .normalized = false});
        }
      }
    }
    for (const auto* token :
         {&config_.bos_token, &config_.eos_token, &config_.unk_token, &config_.pad_token}) {
      if (!*token) continue;
      if (auto id = TokenToId(**token)) {
        tokens.push_back({.content = **token, .id = *id, .special = true, .normalized = false});
      }
    }
    return tokens;
  }

  std::unique_ptr<SentencePieceModel> sp_;
  TokenizerConfig config_;
  bool add_bos_, add_eos_;
  AddedTokenMatcher matcher_;
  std::optional<int32_t> bos_id_, eos_id_, pad_id_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(const std::string& model_path,
                                                              TokenizerConfigFile config) {
  LF_ASSIGN_OR_RETURN(std::unique_ptr<SentencePieceModel> sp,
                      SentencePieceModel::Load(model_path));
  return std::unique_ptr<Tokenizer>(
      std::make_unique<SentencePieceTokenizer>(std::move(sp), std::move(config)));
}

}  // namespace lf::worker
