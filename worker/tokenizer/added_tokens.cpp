#include "worker/tokenizer/added_tokens.h"

#include <algorithm>

#include "common/utf8.h"
#include "worker/tokenizer/byte_level.h"

namespace lf::worker {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) {
  // Hugging Face builds its matchers from the special tokens first, then the others; with two
  // tokens of the same content the first one wins.
  for (bool special : {true, false}) {
    for (const AddedToken& token : tokens) {
      if (token.special != special || token.content.empty()) continue;
      (token.normalized ? normalized_ : raw_).Add(token);
    }
  }
}

void AddedTokenMatcher::Split(std::string_view text, std::vector<Segment>& out) const {
  if (raw_.tokens.empty()) {
    normalized_.FindMatches(text, 0, out);
    return;
  }
  std::vector<Segment> first;
  raw_.FindMatches(text, 0, first);
  for (const Segment& s : first) {
    if (s.id >= 0) {
      out.push_back(s);
    } else {
      normalized_.FindMatches(text.substr(s.begin, s.end - s.begin), s.begin, out);
    }
  }
}

void AddedTokenMatcher::Group::Add(const AddedToken& token) {
  int32_t node = 0;
  for (char c : token.content) {
    const auto byte = static_cast<unsigned char>(c);
    auto& children = nodes[node].children;
    auto it = std::find_if(children.begin(), children.end(),
                           [byte](const auto& child) { return child.first == byte; });
    if (it != children.end()) {
      node = it->second;
    } else {
      const auto next = static_cast<int32_t>(nodes.size());
      children.emplace_back(byte, next);
      nodes.emplace_back();  // invalidates `children`
      node = next;
    }
  }
  if (nodes[node].token >= 0) return;  // same content twice: the first one stays
  nodes[node].token = static_cast<int32_t>(tokens.size());
  tokens.push_back(token);
  first_bytes.set(static_cast<unsigned char>(token.content[0]));
}

size_t AddedTokenMatcher::Group::LongestAt(std::string_view text, size_t pos,
                                           int32_t* token) const {
  size_t longest = 0;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const auto& children = nodes[node].children;
    auto it = std::find_if(children.begin(), children.end(),
                           [byte](const auto& child) { return child.first == byte; });
    if (it == children.end()) break;
    node = it->second;
    if (nodes[node].token >= 0) {
      longest = i + 1 - pos;
      *token = nodes[node].token;
    }
  }
  return longest;
}

void AddedTokenMatcher::Group::FindMatches(std::string_view sentence, size_t base,
                                           std::vector<Segment>& out) const {
  const size_t n = sentence.size();
  size_t start_offset = 0;  // end of what has been emitted
  size_t pos = 0;           // where the search for the next match goes on
  while (pos < n && !tokens.empty()) {
    if (!first_bytes.test(static_cast<unsigned char>(sentence[pos]))) {
      ++pos;
      continue;
    }
    int32_t index = -1;
    const size_t length = LongestAt(sentence, pos, &index);
    if (length == 0) {
      ++pos;
      continue;
    }
    size_t start = pos;
    size_t stop = pos + length;
    pos = stop;  // matches never overlap, whatever the options below do
    const AddedToken& token = tokens[index];
    if (token.single_word) {
      bool word_before = start > 0 && IsWordChar(utf8::Previous(sentence, start));
      size_t after = stop;
      bool word_after = stop < n && IsWordChar(utf8::Next(sentence, after));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      size_t new_start = start;
      while (new_start > 0 && utf8::IsWhitespace(utf8::Previous(sentence, new_start))) {
        do {
          --new_start;
        } while ((static_cast<unsigned char>(sentence[new_start]) & 0xC0) == 0x80);
      }
      start = std::max(new_start, start_offset);  // never into what an earlier match took
    }
    if (token.rstrip) {
      while (stop < n) {
        size_t next = stop;
        if (!utf8::IsWhitespace(utf8::Next(sentence, next))) break;
        stop = next;
      }
    }
    if (start_offset < start) out.push_back({base + start_offset, base + start, -1});
    out.push_back({base + start, base + stop, token.id});
    start_offset = stop;
  }
  if (start_offset < n) out.push_back({base + start_offset, base + n, -1});
}

}  // namespace lf::worker
