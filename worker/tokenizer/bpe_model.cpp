#include "worker/tokenizer/bpe_model.h"

#include <algorithm>
#include <cstdio>

#include "common/utf8.h"
#include "worker/tokenizer/byte_level.h"

namespace lf::worker {

BpeModel::BpeModel(TokenIds vocab, const std::vector<BpeMerge>& merges, BpeModelOptions options)
    : vocab_(std::move(vocab)), options_(options) {
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const BpeMerge& m = merges[rank];
    // A pair listed twice keeps its last rank, as Hugging Face's HashMap collect does.
    merges_[PairKey(m.left, m.right)] = {static_cast<int32_t>(rank), m.merged};
  }
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(ByteToUnicode(static_cast<uint8_t>(b)));
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto fallback = vocab_.find(std::string_view(name));
    fallback_ids_[b] = fallback == vocab_.end() ? -1 : fallback->second;
  }
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::Tokenize(std::string_view piece, std::vector<ModelToken>& tokens) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    std::string byte_chars;
    if (options_.byte_level) {
      for (char c : piece) byte_chars += ByteToUnicode(static_cast<uint8_t>(c));
    }
    if (auto it = vocab_.find(options_.byte_level ? std::string_view(byte_chars) : piece);
        it != vocab_.end()) {
      tokens.push_back({it->second, static_cast<int32_t>(piece.size())});
      return;
    }
  }
  if (options_.byte_level && piece.size() == 1 && byte_ids_[static_cast<uint8_t>(piece[0])] >= 0) {
    tokens.push_back({byte_ids_[static_cast<uint8_t>(piece[0])], 1});
    return;
  }
  if (piece.size() > kMaxCachedPieceBytes) {
    Merge(piece, tokens);
    return;
  }
  const size_t hash = StringHash()(piece);
  CacheShard& shard = cache_[(hash >> 7) % kCacheShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (auto it = shard.entries.find(piece); it != shard.entries.end()) {
      tokens.insert(tokens.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = tokens.size();
  Merge(piece, tokens);
  std::vector<ModelToken> computed(tokens.begin() + static_cast<std::ptrdiff_t>(start),
                                   tokens.end());
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.entries.size() >= kMaxEntriesPerShard) shard.entries.clear();
  shard.entries.emplace(std::string(piece), std::move(computed));
}

// Hugging Face's BPE::merge_word (the initial symbols, unknown characters and byte fallback),
// then Word::merge_all: a min-heap of candidate merges ordered by (rank, position); a popped
// candidate whose pair has changed since it was pushed is skipped.
void BpeModel::Merge(std::string_view piece, std::vector<ModelToken>& tokens) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    int32_t len;  // bytes of the piece covered
    bool alive;   // false once merged into the symbol on its left
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t merged;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  auto add = [&symbols](int32_t id, int32_t len) {
    const auto n = static_cast<int32_t>(symbols.size());
    if (n > 0) symbols.back().next = n;
    symbols.push_back({id, n - 1, -1, len, true});
  };
  int32_t unk_len = -1;  // bytes of a pending unknown token; -1: none pending
  size_t pos = 0;
  while (pos < piece.size()) {
    const size_t start = pos;
    int32_t id = -1;
    std::string_view chars;  // the character as the vocabulary spells it
    if (options_.byte_level) {
      const auto byte = static_cast<uint8_t>(piece[pos++]);
      id = byte_ids_[byte];
      chars = ByteToUnicode(byte);
    } else {
      utf8::Next(piece, pos);
      chars = piece.substr(start, pos - start);
      if (auto it = vocab_.find(chars); it != vocab_.end()) id = it->second;
    }
    const auto len = static_cast<int32_t>(pos - start);
    if (id >= 0) {
      if (unk_len >= 0) add(*options_.unk_id, unk_len);
      unk_len = -1;
      add(id, len);
      continue;
    }
    if (options_.byte_fallback && std::all_of(chars.begin(), chars.end(), [this](char c) {
          return fallback_ids_[static_cast<uint8_t>(c)] >= 0;
        })) {
      // One token per byte; as in Hugging Face, a pending unknown token is not flushed first.
      // (A byte-level character may be two bytes for one byte of the piece.)
      int32_t left = len;
      for (char c : chars) {
        const int32_t covers = std::min<int32_t>(1, left);
        add(fallback_ids_[static_cast<uint8_t>(c)], covers);
        left -= covers;
      }
      continue;
    }
    if (!options_.unk_id) continue;  // Hugging Face drops a character it cannot map
    if (unk_len >= 0 && options_.fuse_unk) {
      unk_len += len;
    } else {
      if (unk_len >= 0) add(*options_.unk_id, unk_len);
      unk_len = len;
    }
  }
  if (unk_len >= 0) add(*options_.unk_id, unk_len);

  auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::vector<Candidate> heap;
  auto push = [&](int32_t at, int32_t left, int32_t right) {
    auto it = merges_.find(PairKey(left, right));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, at, it->second.merged});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    push(static_cast<int32_t>(i), symbols[i].id, symbols[i + 1].id);
  }
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& s = symbols[top.pos];
    if (!s.alive || s.next < 0) continue;
    const int32_t right_pos = s.next;
    const Symbol right = symbols[right_pos];
    auto it = merges_.find(PairKey(s.id, right.id));
    if (it == merges_.end() || it->second.merged != top.merged) continue;  // stale
    s.id = top.merged;
    s.len += right.len;
    s.next = right.next;
    symbols[right_pos].alive = false;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (s.prev >= 0) push(s.prev, symbols[s.prev].id, s.id);
    if (s.next >= 0) push(top.pos, s.id, symbols[s.next].id);
  }
  for (const Symbol& s : symbols) {
    if (s.alive) tokens.push_back({s.id, s.len});
  }
}

}  // namespace lf::worker
