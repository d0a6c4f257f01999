#include "worker/tokenizer/bpe_model.h"

#include <algorithm>

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
  }
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::Tokenize(std::string_view piece, std::vector<int32_t>& ids) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    std::string token;
    for (char c : piece) token += ByteToUnicode(static_cast<uint8_t>(c));
    if (auto it = vocab_.find(token); it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  if (piece.size() == 1 && byte_ids_[static_cast<uint8_t>(piece[0])] >= 0) {
    ids.push_back(byte_ids_[static_cast<uint8_t>(piece[0])]);
    return;
  }
  if (piece.size() > kMaxCachedPieceBytes) {
    Merge(piece, ids);
    return;
  }
  const size_t hash = StringHash()(piece);
  CacheShard& shard = cache_[(hash >> 7) % kCacheShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (auto it = shard.entries.find(piece); it != shard.entries.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = ids.size();
  Merge(piece, ids);
  std::vector<int32_t> computed(ids.begin() + static_cast<std::ptrdiff_t>(start), ids.end());
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.entries.size() >= kMaxEntriesPerShard) shard.entries.clear();
  shard.entries.emplace(std::string(piece), std::move(computed));
}

// Hugging Face's Word::merge_all: a min-heap of candidate merges ordered by (rank, position);
// a popped candidate whose pair has changed since it was pushed is skipped.
void BpeModel::Merge(std::string_view piece, std::vector<int32_t>& ids) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    int32_t len;  // bytes covered; 0 once merged into the symbol on its left
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
    symbols.push_back({id, n - 1, -1, len});
  };
  int32_t unk_len = 0;  // bytes of a pending run of unknown bytes
  auto flush_unk = [&] {
    if (unk_len > 0) add(*options_.unk_id, unk_len);
    unk_len = 0;
  };
  for (char c : piece) {
    const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      flush_unk();
      add(id, 1);
    } else if (options_.unk_id) {
      if (!options_.fuse_unk) flush_unk();
      ++unk_len;
    }
    // Without an unk token Hugging Face drops a character that is not in the vocabulary.
  }
  flush_unk();

  auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::vector<Candidate> heap;
  auto push = [&](int32_t pos, int32_t left, int32_t right) {
    auto it = merges_.find(PairKey(left, right));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, pos, it->second.merged});
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
    if (s.len == 0 || s.next < 0) continue;
    const int32_t right_pos = s.next;
    const Symbol right = symbols[right_pos];
    auto it = merges_.find(PairKey(s.id, right.id));
    if (it == merges_.end() || it->second.merged != top.merged) continue;  // stale
    s.id = top.merged;
    s.len += right.len;
    s.next = right.next;
    symbols[right_pos].len = 0;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (s.prev >= 0) push(s.prev, symbols[s.prev].id, s.id);
    if (s.next >= 0) push(top.pos, s.id, symbols[s.next].id);
  }
  for (const Symbol& s : symbols) {
    if (s.len != 0) ids.push_back(s.id);
  }
}

}  // namespace lf::worker
