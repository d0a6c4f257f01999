// Added and special tokens ("<|endoftext|>", "<|pad|>"): found in the text before anything else
// and mapped straight to their ids, as Hugging Face's AddedVocabulary does (leftmost-longest
// match; options single_word, lstrip, rstrip; tokens with normalized=false are matched first).
// Internal to worker/tokenizer. Immutable after construction: thread-safe.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lf::worker {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool single_word = false;  // match only where no word character touches it on either side
  bool lstrip = false;       // the match swallows the whitespace before it
  bool rstrip = false;       // ... and after it
  bool normalized = true;    // matched after the normalizer; without one, only the order differs
};

class AddedTokenMatcher {
 public:
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  // A stretch of the text: an added token (id >= 0) or text for the model (id == -1).
  struct Segment {
    size_t begin;
    size_t end;
    int32_t id;
  };
  // Appends the segments of `text` (valid UTF-8) to `out`; together they cover it in order,
  // except for whitespace that lstrip/rstrip tokens swallow. Empty text segments are left out.
  void Split(std::string_view text, std::vector<Segment>& out) const;
  // The two passes of Split on their own, for a tokenizer with a normalizer: tokens with
  // normalized=false on the input, then those with normalized=true on each normalized stretch
  // (offsets shifted by `base`).
  void SplitRaw(std::string_view text, std::vector<Segment>& out) const {
    raw_.FindMatches(text, 0, out);
  }
  void SplitNormalized(std::string_view text, size_t base, std::vector<Segment>& out) const {
    normalized_.FindMatches(text, base, out);
  }

  bool empty() const { return raw_.tokens.empty() && normalized_.tokens.empty(); }

 private:
  // A byte trie over the contents of one group of tokens.
  struct Group {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;
      int32_t token = -1;  // index into tokens when a content ends here
    };
    std::vector<Node> nodes{Node{}};
    std::vector<AddedToken> tokens;
    std::bitset<256> first_bytes;

    void Add(const AddedToken& token);
    // Length of the longest content that starts at text[pos], and its token index.
    size_t LongestAt(std::string_view text, size_t pos, int32_t* token) const;
    // Hugging Face's find_matches on one sentence, appended with offsets shifted by `base`.
    void FindMatches(std::string_view sentence, size_t base, std::vector<Segment>& out) const;
  };
  Group raw_;         // normalized == false: matched on the text as given
  Group normalized_;  // normalized == true: matched in what the first pass left
};

}  // namespace lf::worker
