#include "worker/tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <vector>

#include "common/utf8.h"
#include "worker/tokenizer/pattern.h"

namespace lf::worker {
namespace {

constexpr std::string_view kSupported =
    "supported: NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, Sequence";

// Unicode normalization of one stretch of text with utf8proc (invalid input comes back as is).
std::string UnicodeNormalize(std::string_view text, int options) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &out,
                   static_cast<utf8proc_option_t>(options | UTF8PROC_STABLE));
  if (n < 0) return std::string(text);
  std::string result(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

bool IsAscii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

std::vector<char32_t> CodePoints(std::string_view s) {
  std::vector<char32_t> out;
  size_t pos = 0;
  while (pos < s.size()) out.push_back(utf8::Next(s, pos));
  return out;
}

// NFC and friends. The text is cut into groups that normalize independently (a character that
// starts a group does not combine with what is before it). A group that normalization leaves as
// it is keeps its alignments; in one it changes, each output character is aligned to the input
// character its first decomposed code point came from, as Hugging Face's alignment-tracking
// normalization gives ("e\u0301" -> "é" covers the "e"; "é" -> "e\u0301" both cover the "é").
class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  void Normalize(NormalizedText& t) const override {
    if (IsAscii(t.text)) return;  // every form leaves ASCII as it is
    NormalizedText out;
    size_t group_begin = 0;
    auto flush = [&](size_t end) {
      if (end > group_begin) AppendGroup(t, group_begin, end, out);
      group_begin = end;
    };
    size_t pos = 0;
    while (pos < t.text.size()) {
      const size_t start = pos;
      const char32_t cp = utf8::Next(t.text, pos);
      if (start == group_begin) continue;
      if (cp < 0x80) {  // ASCII never combines with what is before it
        flush(start);
        continue;
      }
      const bool starter =
          utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->combining_class == 0;
      if (!starter) continue;
      // A starter may still compose with the group (Hangul jamo, some Indic vowel signs).
      const std::string_view before(t.text.data() + group_begin, start - group_begin);
      const std::string_view next(t.text.data() + start, pos - start);
      if (UnicodeNormalize(std::string(before) + std::string(next), options_) ==
          UnicodeNormalize(before, options_) + UnicodeNormalize(next, options_)) {
        flush(start);
      }
    }
    flush(t.text.size());
    t = std::move(out);
  }

 private:
  void AppendGroup(const NormalizedText& t, size_t begin, size_t end, NormalizedText& out) const {
    const std::string_view group(t.text.data() + begin, end - begin);
    const std::string normalized = UnicodeNormalize(group, options_);
    if (normalized == group) {
      out.text.append(group);
      out.align.insert(out.align.end(), t.align.begin() + static_cast<std::ptrdiff_t>(begin),
                       t.align.begin() + static_cast<std::ptrdiff_t>(end));
      return;
    }
    const int decompose = (options_ & UTF8PROC_COMPAT) | UTF8PROC_DECOMPOSE;
    struct Decomposed {
      char32_t cp;
      TokenOffsets origin;
      bool used;
    };
    std::vector<Decomposed> decomposed;
    size_t pos = begin;
    while (pos < end) {
      const size_t start = pos;
      utf8::Next(t.text, pos);
      const std::vector<char32_t> cps =
          CodePoints(UnicodeNormalize(t.text.substr(start, pos - start), decompose));
      for (size_t i = 0; i < cps.size(); ++i) {
        decomposed.push_back({cps[i], t.align[i == 0 ? start : pos - 1], false});
      }
    }
    auto take = [&decomposed](char32_t cp) -> const Decomposed* {
      for (Decomposed& d : decomposed) {
        if (!d.used && d.cp == cp) {
          d.used = true;
          return &d;
        }
      }
      return nullptr;
    };
    for (char32_t cp : CodePoints(normalized)) {
      std::string encoded;
      utf8::Append(encoded, cp);
      const std::vector<char32_t> parts = CodePoints(UnicodeNormalize(encoded, decompose));
      const Decomposed* first = parts.empty() ? nullptr : take(parts[0]);
      for (size_t i = 1; i < parts.size(); ++i) take(parts[i]);
      out.Append(encoded, first != nullptr ? first->origin : t.align[begin]);
    }
  }

  int options_;
};

// The lowercase letters Unicode 16 added, which utf8proc 2.8 (Unicode 15) lacks.
char32_t Unicode16Lower(char32_t cp) {
  switch (cp) {
    case 0x1C89:
      return 0x1C8A;
    case 0xA7CB:
      return 0x0264;
    case 0xA7CC:
      return 0xA7CD;
    case 0xA7DA:
      return 0xA7DB;
    case 0xA7DC:
      return 0x019B;
    default:
      return cp >= 0x10D50 && cp <= 0x10D65 ? cp + 0x20 : cp;  // Garay
  }
}

// Rust's char::to_lowercase (Unicode 16): the simple mapping, plus U+0130 -> "i\u0307".
class Lowercase final : public Normalizer {
 public:
  void Normalize(NormalizedText& t) const override {
    NormalizedText out;
    size_t pos = 0;
    while (pos < t.text.size()) {
      const size_t start = pos;
      const char32_t cp = utf8::Next(t.text, pos);
      if (cp == 0x130) {  // HF aligns the added mark with the character's last byte
        out.Append("i", t.align[start]);
        out.Append("\xCC\x87", t.align[pos - 1]);
        continue;
      }
      char32_t lower = Unicode16Lower(cp);
      if (lower == cp) {
        lower = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
      }
      std::string encoded;
      utf8::Append(encoded, lower);
      out.Append(encoded, t.align[start]);
    }
    t = std::move(out);
  }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void Normalize(NormalizedText& t) const override {
    size_t begin = 0, end = t.text.size();
    while (left_ && begin < end) {
      size_t next = begin;
      if (!utf8::IsWhitespace(utf8::Next(t.text, next))) break;
      begin = next;
    }
    while (right_ && end > begin) {
      const char32_t cp = utf8::Previous(t.text, end);
      if (!utf8::IsWhitespace(cp)) break;
      std::string encoded;
      utf8::Append(encoded, cp);
      end -= encoded.size();
    }
    t = t.Slice(begin, end);
  }

 private:
  bool left_, right_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void Normalize(NormalizedText& t) const override { t.Prepend(prefix_); }

 private:
  std::string prefix_;
};

class Replace final : public Normalizer {
 public:
  Replace(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void Normalize(NormalizedText& t) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    pattern_.Matches(t.text, matches);
    if (matches.empty()) return;
    NormalizedText out;
    size_t last = 0;
    for (const auto& [begin, end] : matches) {
      NormalizedText kept = t.Slice(last, begin);
      out.text += kept.text;
      out.align.insert(out.align.end(), kept.align.begin(), kept.align.end());
      // Hugging Face aligns the replacement with the last byte it replaces.
      if (!content_.empty()) out.Append(content_, t.align[end - 1]);
      last = end;
    }
    NormalizedText rest = t.Slice(last, t.text.size());
    out.text += rest.text;
    out.align.insert(out.align.end(), rest.align.begin(), rest.align.end());
    t = std::move(out);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void Normalize(NormalizedText& t) const override {
    for (const auto& step : steps_) step->Normalize(t);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

Result<std::unique_ptr<Normalizer>> ParseNormalizer(const JsonField& field) {
  LF_ASSIGN_OR_RETURN(JsonField type_field, field.Required("type"));
  LF_ASSIGN_OR_RETURN(std::string type, type_field.String());
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_COMPOSE);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_DECOMPOSE);
  if (type == "NFKC") {
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  }
  if (type == "NFKD") {
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  }
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip") {
    LF_ASSIGN_OR_RETURN(bool left, field.BoolOr("strip_left", true));
    LF_ASSIGN_OR_RETURN(bool right, field.BoolOr("strip_right", true));
    return std::make_unique<Strip>(left, right);
  }
  if (type == "Prepend") {
    LF_ASSIGN_OR_RETURN(std::string prefix, field.StringAt("prepend"));
    return std::make_unique<Prepend>(std::move(prefix));
  }
  if (type == "Replace") {
    LF_ASSIGN_OR_RETURN(JsonField pattern_field, field.Required("pattern"));
    LF_ASSIGN_OR_RETURN(Pattern pattern, Pattern::Parse(pattern_field));
    LF_ASSIGN_OR_RETURN(std::string content, field.StringAt("content"));
    return std::make_unique<Replace>(std::move(pattern), std::move(content));
  }
  if (type == "Sequence") {
    LF_ASSIGN_OR_RETURN(JsonField list, field.Required("normalizers"));
    LF_ASSIGN_OR_RETURN(std::vector<JsonField> elements, list.Elements());
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const JsonField& e : elements) {
      LF_ASSIGN_OR_RETURN(std::unique_ptr<Normalizer> step, ParseNormalizer(e));
      steps.push_back(std::move(step));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  return type_field.Error("normalizer \"" + type + "\" is not supported; " +
                          std::string(kSupported));
}

}  // namespace lf::worker
