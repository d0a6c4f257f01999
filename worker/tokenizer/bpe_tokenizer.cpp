#include "worker/tokenizer/bpe_tokenizer.h"

#include <algorithm>

#include "worker/tokenizer/byte_level.h"
#include "worker/tokenizer/normalized_text.h"

namespace lf::worker {
namespace {

// The added tokens as the matcher looks for them: HF normalizes the content of a token with
// normalized=true, since it is matched in normalized text.
std::vector<AddedToken> MatchingTokens(std::vector<AddedToken> tokens,
                                       const Normalizer* normalizer) {
  if (normalizer == nullptr) return tokens;
  for (AddedToken& token : tokens) {
    if (!token.normalized) continue;
    NormalizedText content = NormalizedText::FromOriginal(token.content, 0);
    normalizer->Normalize(content);
    token.content = std::move(content.text);
  }
  return tokens;
}

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(BpeTokenizerSpec spec, TokenizerConfig config)
      : matcher_(MatchingTokens(spec.added, spec.normalizer.get())),
        normalizer_(std::move(spec.normalizer)),
        pre_tokenizer_(std::move(spec.pre_tokenizer)),
        decoder_(std::move(spec.decoder)),
        post_(std::move(spec.post)),
        config_(std::move(config)) {
    byte_level_ = spec.model.byte_level;
    model_ = std::make_unique<BpeModel>(std::move(spec.vocab), spec.merges, spec.model);
    int32_t max_id = -1;
    for (const auto& [token, id] : model_->vocab()) max_id = std::max(max_id, id);
    for (const AddedToken& token : spec.added) {
      added_ids_.insert_or_assign(token.content, token.id);  // the last one wins, as in HF
      max_id = std::max(max_id, token.id);
    }
    vocab_size_ = max_id + 1;
    bytes_.resize(static_cast<size_t>(vocab_size_));
    strings_.resize(static_cast<size_t>(vocab_size_));
    known_.resize(static_cast<size_t>(vocab_size_), false);
    // bytes_: what a byte-level decoder gives for each id. Where an added token's id is also a
    // model token, the model's bytes win: BPE output can produce that id too. An added token
    // decodes to its content as matched (HF's id_to_token gives the normalized content of a
    // normalized=true token).
    const std::vector<AddedToken> matched = MatchingTokens(spec.added, normalizer_.get());
    for (const AddedToken& token : matched) {
      bytes_[token.id] = token.content;
      known_[token.id] = true;
    }
    for (const auto& [token, id] : model_->vocab()) {
      bytes_[id] = byte_level_ ? ByteLevelToBytes(token).value_or(token) : token;
      strings_[id] = token;
      known_[id] = true;
    }
    // strings_: the token strings the decoder chain reads; added tokens first, as in HF.
    for (const AddedToken& token : matched) strings_[token.id] = token.content;
    eos_id_ = Lookup(config_.eos_token);
    if (!eos_id_) eos_id_ = TokenToId("<|endoftext|>");
    if (!eos_id_) eos_id_ = TokenToId("</s>");
    bos_id_ = Lookup(config_.bos_token);
    if (!bos_id_ && !post_.prefix.empty()) bos_id_ = post_.prefix.front();
    pad_id_ = Lookup(config_.pad_token);
  }

  std::vector<int32_t> Encode(std::string_view text) const override {
    Encoding encoding;
    Run(text, encoding, /*with_offsets=*/false);
    return std::move(encoding.ids);
  }

  Encoding EncodeWithOffsets(std::string_view text) const override {
    Encoding encoding;
    Run(text, encoding, /*with_offsets=*/true);
    if (post_.trim_offsets) TrimOffsets(encoding);
    return encoding;
  }

  std::vector<int32_t> AddSpecialTokens(std::span<const int32_t> ids) const override {
    std::vector<int32_t> out(post_.prefix);
    out.insert(out.end(), ids.begin(), ids.end());
    out.insert(out.end(), post_.suffix.begin(), post_.suffix.end());
    return out;
  }

  std::string Decode(std::span<const int32_t> ids) const override {
    std::string out;
    if (byte_level_only_decoder_) {
      for (int32_t id : ids) {
        // Unknown ids are skipped, as Hugging Face does.
        if (id >= 0 && id < vocab_size_ && known_[id]) out += bytes_[id];
      }
      return out;
    }
    std::vector<std::string> tokens;
    for (int32_t id : ids) {
      if (id >= 0 && id < vocab_size_ && known_[id]) tokens.push_back(strings_[id]);
    }
    if (decoder_ == nullptr) {  // Hugging Face joins the tokens with spaces
      for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
      return out;
    }
    decoder_->DecodeChain(tokens);
    for (const std::string& t : tokens) out += t;
    return out;
  }

  int32_t vocab_size() const override { return vocab_size_; }
  std::optional<int32_t> eos_id() const override { return eos_id_; }
  std::optional<int32_t> bos_id() const override { return bos_id_; }
  std::optional<int32_t> pad_id() const override { return pad_id_; }
  const TokenizerConfig& config() const override { return config_; }

  std::optional<int32_t> TokenToId(std::string_view token) const override {
    auto it = added_ids_.find(token);
    if (it != added_ids_.end()) return it->second;
    return model_->TokenToId(token);
  }

  void set_byte_level_only_decoder(bool value) { byte_level_only_decoder_ = value; }

 private:
  std::optional<int32_t> Lookup(const std::optional<std::string>& token) const {
    return token ? TokenToId(*token) : std::nullopt;
  }

  // Added tokens on the input, then per stretch: normalizer, added tokens with normalized=true,
  // pre-tokenizer, model.
  void Run(std::string_view input, Encoding& out, bool with_offsets) const {
    out.ids.reserve(input.size() / 3 + 1);
    const NormalizedText source = NormalizedText::FromInput(input);
    auto emit = [&](int32_t id, const NormalizedText& t, size_t begin, size_t end) {
      out.ids.push_back(id);
      if (!with_offsets) return;
      if (end > begin) {
        out.offsets.push_back(t.OriginalRange(begin, end));
      } else {  // a byte-fallback token that covers no byte of its own
        const uint32_t at = begin < t.align.size() ? t.align[begin].begin : t.align.back().end;
        out.offsets.push_back({at, at});
      }
    };
    std::vector<AddedTokenMatcher::Segment> raw, normalized;
    matcher_.SplitRaw(source.text, raw);
    std::vector<ModelToken> tokens;
    std::vector<NormalizedText> pieces;
    for (const auto& s : raw) {
      if (s.id >= 0) {
        emit(s.id, source, s.begin, s.end);
        continue;
      }
      NormalizedText stretch = source.Slice(s.begin, s.end);
      if (normalizer_) normalizer_->Normalize(stretch);
      normalized.clear();
      matcher_.SplitNormalized(stretch.text, 0, normalized);
      for (const auto& n : normalized) {
        if (n.id >= 0) {
          emit(n.id, stretch, n.begin, n.end);
          continue;
        }
        pieces.clear();
        pieces.push_back(stretch.Slice(n.begin, n.end));
        if (pre_tokenizer_) pre_tokenizer_->Split(pieces);
        for (const NormalizedText& piece : pieces) {
          tokens.clear();
          model_->Tokenize(piece.text, tokens);
          size_t at = 0;
          for (const ModelToken& t : tokens) {
            emit(t.id, piece, at, at + static_cast<size_t>(t.len));
            at += static_cast<size_t>(t.len);
          }
        }
      }
    }
  }

  // Hugging Face's ByteLevel process_offsets: offsets leave out a token's leading and trailing
  // spaces, except the single space add_prefix_space puts before the first token.
  void TrimOffsets(Encoding& encoding) const {
    for (size_t i = 0; i < encoding.ids.size(); ++i) {
      const int32_t id = encoding.ids[i];
      if (id < 0 || id >= vocab_size_) continue;
      const std::string& bytes = bytes_[id];
      size_t leading = 0, trailing = 0;
      while (leading < bytes.size() && bytes[leading] == ' ') ++leading;
      while (trailing < bytes.size() && bytes[bytes.size() - 1 - trailing] == ' ') ++trailing;
      TokenOffsets& o = encoding.offsets[i];
      if (leading > 0) {
        const bool first = i == 0 || o.begin == 0;
        if (first && post_.add_prefix_space && leading == 1) leading = 0;
        o.begin = std::min<uint32_t>(o.begin + static_cast<uint32_t>(leading), o.end);
      }
      if (trailing > 0 && o.end >= trailing) {
        o.end = std::max<uint32_t>(o.end - static_cast<uint32_t>(trailing), o.begin);
      }
    }
  }

  std::unique_ptr<BpeModel> model_;
  AddedTokenMatcher matcher_;
  std::shared_ptr<const Normalizer> normalizer_;
  std::shared_ptr<const PreTokenizer> pre_tokenizer_;
  std::shared_ptr<const Decoder> decoder_;
  PostProcessorSpec post_;
  TokenizerConfig config_;
  bool byte_level_ = true;
  bool byte_level_only_decoder_ = false;
  TokenIds added_ids_;
  int32_t vocab_size_ = 0;
  std::vector<std::string> bytes_;    // bytes of each id, for a ByteLevel decoder
  std::vector<std::string> strings_;  // token string of each id, for other decoders
  std::vector<bool> known_;           // whether an id has a token at all
  std::optional<int32_t> eos_id_, bos_id_, pad_id_;
};

}  // namespace

std::unique_ptr<Tokenizer> MakeBpeTokenizer(BpeTokenizerSpec spec, TokenizerConfig config) {
  const bool byte_level_decoder = spec.byte_level_decoder;
  auto tokenizer = std::make_unique<BpeTokenizer>(std::move(spec), std::move(config));
  tokenizer->set_byte_level_only_decoder(byte_level_decoder);
  return tokenizer;
}

}  // namespace lf::worker
