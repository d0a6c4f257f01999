#include "worker/tokenizer/normalized_text.h"

#include <algorithm>

#include "common/utf8.h"

namespace lf::worker {

NormalizedText NormalizedText::FromOriginal(std::string_view original, uint32_t base) {
  NormalizedText out;
  out.text = std::string(original);
  out.align.reserve(original.size());
  size_t pos = 0;
  while (pos < original.size()) {
    const size_t start = pos;
    utf8::Next(original, pos);
    const TokenOffsets range{static_cast<uint32_t>(base + start),
                             static_cast<uint32_t>(base + pos)};
    for (size_t i = start; i < pos; ++i) out.align.push_back(range);
  }
  return out;
}

NormalizedText NormalizedText::FromInput(std::string_view input) {
  if (utf8::IsValid(input)) return FromOriginal(input, 0);
  // Whether a well-formed sequence starts at `pos` (a window of 4 bytes holds any one).
  auto valid_at = [input](size_t pos) { return utf8::FindInvalid(input.substr(pos, 4)) != 0; };
  NormalizedText out;
  size_t pos = 0;
  while (pos < input.size()) {
    const size_t bad = utf8::FindInvalid(input.substr(pos));
    const size_t valid_end = bad == std::string_view::npos ? input.size() : pos + bad;
    NormalizedText valid =
        FromOriginal(input.substr(pos, valid_end - pos), static_cast<uint32_t>(pos));
    out.text += valid.text;
    out.align.insert(out.align.end(), valid.align.begin(), valid.align.end());
    if (valid_end == input.size()) break;
    size_t end = valid_end + 1;
    while (end < input.size() && !valid_at(end)) ++end;
    // One U+FFFD per maximal ill-formed subsequence (at most 3 bytes), aligned to its bytes.
    for (size_t p = valid_end; p < end;) {
      size_t len = std::min<size_t>(3, end - p);
      while (len > 1 && utf8::ReplaceInvalid(input.substr(p, len)) != "\xEF\xBF\xBD") --len;
      out.Append("\xEF\xBF\xBD", {static_cast<uint32_t>(p), static_cast<uint32_t>(p + len)});
      p += len;
    }
    pos = end;
  }
  return out;
}

NormalizedText NormalizedText::Slice(size_t begin, size_t end) const {
  NormalizedText out;
  out.text = text.substr(begin, end - begin);
  out.align.assign(align.begin() + static_cast<std::ptrdiff_t>(begin),
                   align.begin() + static_cast<std::ptrdiff_t>(end));
  return out;
}

void NormalizedText::Append(std::string_view chars, TokenOffsets origin) {
  text.append(chars);
  align.insert(align.end(), chars.size(), origin);
}

void NormalizedText::Prepend(std::string_view prefix) {
  if (text.empty()) return;
  size_t first_end = 0;
  utf8::Next(text, first_end);
  const TokenOffsets origin = OriginalRange(0, first_end);
  text.insert(0, prefix);
  align.insert(align.begin(), prefix.size(), origin);
}

}  // namespace lf::worker
