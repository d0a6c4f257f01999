#include "worker/tokenizer/decoder.h"

#include "common/utf8.h"
#include "worker/tokenizer/byte_level.h"
#include "worker/tokenizer/pattern.h"

namespace lf::worker {
namespace {

constexpr std::string_view kSupported =
    "supported: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence";

std::vector<char32_t> CodePoints(std::string_view s) {
  std::vector<char32_t> out;
  size_t pos = 0;
  while (pos < s.size()) out.push_back(utf8::Next(s, pos));
  return out;
}

class ByteLevel final : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) bytes += ByteLevelToBytes(t).value_or(t);
    tokens.assign(1, std::move(bytes));
  }
};

class Replace final : public Decoder {
 public:
  Replace(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    for (std::string& t : tokens) {
      matches.clear();
      pattern_.Matches(t, matches);
      if (matches.empty()) continue;
      std::string out;
      size_t last = 0;
      for (const auto& [b, e] : matches) {
        out.append(t, last, b - last);
        out += content_;
        last = e;
      }
      out.append(t, last);
      t = std::move(out);
    }
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// Runs of "<0xXX>" tokens become the bytes they stand for when these are valid UTF-8, else one
// U+FFFD per byte.
class ByteFallback final : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t pending = 0;
    auto flush = [&] {
      if (pending == 0) return;
      if (utf8::IsValid(bytes)) {
        out.push_back(bytes);
      } else {
        for (size_t i = 0; i < pending; ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
      pending = 0;
    };
    for (std::string& t : tokens) {
      int value = -1;
      if (t.size() == 6 && t.starts_with("<0x") && t.back() == '>') value = HexByte(t[3], t[4]);
      if (value >= 0) {
        bytes.push_back(static_cast<char>(value));
        ++pending;
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static int HexByte(char hi, char lo) {
    const int h = HexDigit(hi), l = HexDigit(lo);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class Fuse final : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing `content` characters of each token.
class Strip final : public Decoder {
 public:
  Strip(char32_t content, size_t start, size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      const std::vector<char32_t> cps = CodePoints(t);
      size_t begin = 0, end = cps.size();
      while (begin < std::min(start_, cps.size()) && cps[begin] == content_) ++begin;
      for (size_t i = 0; i < stop_ && end > begin && cps[end - 1] == content_; ++i) --end;
      std::string out;
      for (size_t i = begin; i < end; ++i) utf8::Append(out, cps[i]);
      t = std::move(out);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

// The replacement character becomes a space; in the first token it is dropped unless the
// prepend scheme is "never".
class Metaspace final : public Decoder {
 public:
  Metaspace(char32_t replacement, bool strip_first)
      : replacement_(replacement), strip_first_(strip_first) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      for (char32_t cp : CodePoints(tokens[i])) {
        if (cp != replacement_) {
          utf8::Append(out, cp);
        } else if (i != 0 || !strip_first_) {
          out += ' ';
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  char32_t replacement_;
  bool strip_first_;
};

class Sequence final : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->DecodeChain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

Result<char32_t> OneChar(const JsonField& field, std::string_view key, std::string_view fallback) {
  LF_ASSIGN_OR_RETURN(std::string s, field.StringOr(key, std::string(fallback)));
  std::vector<char32_t> cps = utf8::IsValid(s) ? CodePoints(s) : std::vector<char32_t>{};
  if (cps.size() != 1) return field.Error(std::string(key) + ": expected one character");
  return cps[0];
}

}  // namespace

std::unique_ptr<Decoder> MakeByteLevelDecoder() { return std::make_unique<ByteLevel>(); }

Result<std::unique_ptr<Decoder>> ParseDecoder(const JsonField& field) {
  LF_ASSIGN_OR_RETURN(JsonField type_field, field.Required("type"));
  LF_ASSIGN_OR_RETURN(std::string type, type_field.String());
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Replace") {
    LF_ASSIGN_OR_RETURN(JsonField pattern_field, field.Required("pattern"));
    LF_ASSIGN_OR_RETURN(Pattern pattern, Pattern::Parse(pattern_field));
    LF_ASSIGN_OR_RETURN(std::string content, field.StringAt("content"));
    return std::make_unique<Replace>(std::move(pattern), std::move(content));
  }
  if (type == "Strip") {
    LF_ASSIGN_OR_RETURN(char32_t content, OneChar(field, "content", " "));
    LF_ASSIGN_OR_RETURN(int64_t start, field.IntOr("start", 0, {.min = 0}));
    LF_ASSIGN_OR_RETURN(int64_t stop, field.IntOr("stop", 0, {.min = 0}));
    return std::make_unique<Strip>(content, static_cast<size_t>(start), static_cast<size_t>(stop));
  }
  if (type == "Metaspace") {
    LF_ASSIGN_OR_RETURN(char32_t replacement, OneChar(field, "replacement", "\u2581"));
    LF_ASSIGN_OR_RETURN(bool add_prefix_space, field.BoolOr("add_prefix_space", true));
    bool strip_first = add_prefix_space;
    if (auto scheme = field.Optional("prepend_scheme")) {
      LF_ASSIGN_OR_RETURN(std::string name, scheme->String());
      strip_first = name != "never";
    }
    return std::make_unique<Metaspace>(replacement, strip_first);
  }
  if (type == "Sequence") {
    LF_ASSIGN_OR_RETURN(JsonField list, field.Required("decoders"));
    LF_ASSIGN_OR_RETURN(std::vector<JsonField> elements, list.Elements());
    std::vector<std::unique_ptr<Decoder>> steps;
    for (const JsonField& e : elements) {
      LF_ASSIGN_OR_RETURN(std::unique_ptr<Decoder> step, ParseDecoder(e));
      steps.push_back(std::move(step));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  return type_field.Error("decoder \"" + type + "\" is not supported; " + std::string(kSupported));
}

}  // namespace lf::worker
