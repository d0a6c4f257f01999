// Hugging Face's BPE model: applies merges by rank to one pre-token, exactly as models/bpe/
// (model.rs merge_word, word.rs) does, over GPT-2's byte characters (byte-level tokenizers) or the
// text's characters (SentencePiece-style "▁the" vocabularies, with byte_fallback to "<0x41>"
// tokens), and caches the tokens of each pre-token seen.
// Internal to worker/tokenizer. Immutable after Create except for the cache, which is sharded
// and locked: any number of threads may call Tokenize at once.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace lf::worker {

struct BpeMerge {
  int32_t left = 0;  // ids of the two tokens merged
  int32_t right = 0;
  int32_t merged = 0;  // id of their concatenation
};

// Lets std::string-keyed hash maps be searched with a std::string_view, without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
using TokenIds = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct BpeModelOptions {
  std::optional<int32_t> unk_id;  // for characters not in the vocabulary
  bool fuse_unk = false;          // consecutive unknown characters give one unk_id
  bool ignore_merges = false;     // a pre-token that is itself in the vocabulary is one token
  bool byte_fallback = false;     // an unknown character is its bytes' "<0xXX>" tokens
  bool byte_level = true;         // symbols are GPT-2's byte characters, not the text's
};

// One token of a pre-token: its id and how many bytes of the pre-token it covers.
struct ModelToken {
  int32_t id;
  int32_t len;
};

class BpeModel {
 public:
  // `vocab` maps token strings ("Ġthe", "▁the") to ids; `merges` are in rank order (the first
  // merge has rank 0). The caller has checked that every id is in `vocab`.
  BpeModel(TokenIds vocab, const std::vector<BpeMerge>& merges, BpeModelOptions options);

  // Appends the tokens of one pre-token: raw bytes (before the byte-level mapping) when
  // options.byte_level, else valid UTF-8. Their lengths add up to piece.size().
  void Tokenize(std::string_view piece, std::vector<ModelToken>& tokens) const;
  const BpeModelOptions& options() const { return options_; }

  std::optional<int32_t> TokenToId(std::string_view token) const;
  const TokenIds& vocab() const { return vocab_; }
  size_t num_merges() const { return merges_.size(); }

 private:
  struct MergeTarget {
    int32_t rank;
    int32_t merged;
  };
  using Cache =
      std::unordered_map<std::string, std::vector<ModelToken>, StringHash, std::equal_to<>>;
  struct CacheShard {
    std::mutex mu;
    Cache entries;
  };
  static constexpr size_t kCacheShards = 16;
  static constexpr size_t kMaxEntriesPerShard = 8192;  // then the shard starts afresh
  static constexpr size_t kMaxCachedPieceBytes = 256;  // as Hugging Face

  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  void Merge(std::string_view piece, std::vector<ModelToken>& tokens) const;

  TokenIds vocab_;
  std::unordered_map<uint64_t, MergeTarget> merges_;
  std::array<int32_t, 256> byte_ids_;      // id of each byte's character; -1 when not in vocab_
  std::array<int32_t, 256> fallback_ids_;  // id of each byte's "<0xXX>"; -1 when not in vocab_
  BpeModelOptions options_;
  mutable std::array<CacheShard, kCacheShards> cache_;
};

}  // namespace lf::worker
