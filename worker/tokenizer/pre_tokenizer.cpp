#include "worker/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <utility>

#include "common/utf8.h"
#include "worker/tokenizer/byte_level.h"
#include "worker/tokenizer/pattern.h"

namespace lf::worker {
namespace {

constexpr std::string_view kSupported =
    "supported: Split, Digits, ByteLevel, Metaspace, Punctuation, WhitespaceSplit, Whitespace, "
    "Sequence";

// Hugging Face's SplitDelimiterBehavior.
enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
constexpr std::pair<std::string_view, Behavior> kBehaviors[] = {
    {"Removed", Behavior::kRemoved},
    {"Isolated", Behavior::kIsolated},
    {"MergedWithPrevious", Behavior::kMergedWithPrevious},
    {"MergedWithNext", Behavior::kMergedWithNext},
    {"Contiguous", Behavior::kContiguous}};

Result<Behavior> ParseBehavior(const JsonField& field) {
  LF_ASSIGN_OR_RETURN(std::string name, field.String());
  std::string names;
  for (const auto& [n, b] : kBehaviors) {
    if (n == name) return b;
    names += (names.empty() ? "" : ", ") + std::string(n);
  }
  return field.Error("unknown split behavior \"" + name + "\"; expected one of " + names);
}

// Hugging Face's NormalizedString::split: `matches` (non-overlapping, in order) and the text
// between them become pieces according to `behavior`.
void SplitByMatches(const NormalizedText& piece,
                    const std::vector<std::pair<size_t, size_t>>& matches, Behavior behavior,
                    bool invert, std::vector<NormalizedText>& out) {
  struct Part {
    size_t begin, end;
    bool is_match;
  };
  std::vector<Part> parts;
  size_t last = 0;
  for (const auto& [b, e] : matches) {
    if (b > last) parts.push_back({last, b, invert});
    parts.push_back({b, e, !invert});
    last = e;
  }
  if (last < piece.text.size()) parts.push_back({last, piece.text.size(), invert});
  std::vector<std::pair<Part, bool>> splits;  // (range, removed)
  bool previous_match = false;
  switch (behavior) {
    case Behavior::kIsolated:
      for (const Part& p : parts) splits.push_back({p, false});
      break;
    case Behavior::kRemoved:
      for (const Part& p : parts) splits.push_back({p, p.is_match});
      break;
    case Behavior::kContiguous:
      for (const Part& p : parts) {
        if (p.is_match == previous_match && !splits.empty()) {
          splits.back().first.end = p.end;
        } else {
          splits.push_back({p, false});
        }
        previous_match = p.is_match;
      }
      break;
    case Behavior::kMergedWithPrevious:
      for (const Part& p : parts) {
        if (p.is_match && !previous_match && !splits.empty()) {
          splits.back().first.end = p.end;
        } else {
          splits.push_back({p, false});
        }
        previous_match = p.is_match;
      }
      break;
    case Behavior::kMergedWithNext:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !previous_match && !splits.empty()) {
          splits.back().first.begin = it->begin;
        } else {
          splits.push_back({*it, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(splits.begin(), splits.end());
      break;
  }
  for (const auto& [p, removed] : splits) {
    if (!removed && p.end > p.begin) out.push_back(piece.Slice(p.begin, p.end));
  }
}

// Split, Digits, Punctuation, WhitespaceSplit, Whitespace: a pattern and a behaviour.
class PatternSplit final : public PreTokenizer {
 public:
  PatternSplit(Pattern pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void Split(std::vector<NormalizedText>& pieces) const override {
    std::vector<NormalizedText> out;
    std::vector<std::pair<size_t, size_t>> matches;
    for (const NormalizedText& piece : pieces) {
      matches.clear();
      pattern_.Matches(piece.text, matches);
      SplitByMatches(piece, matches, behavior_, invert_, out);
    }
    pieces = std::move(out);
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void Split(std::vector<NormalizedText>& pieces) const override {
    std::vector<NormalizedText> out;
    std::vector<std::string_view> parts;
    for (NormalizedText& piece : pieces) {
      if (add_prefix_space_ && !piece.text.starts_with(' ')) piece.Prepend(" ");
      if (!use_regex_) {
        if (!piece.empty()) out.push_back(std::move(piece));
        continue;
      }
      parts.clear();
      RegexSplitter::Gpt2().Split(piece.text, parts);
      for (std::string_view p : parts) {
        const auto begin = static_cast<size_t>(p.data() - piece.text.data());
        out.push_back(piece.Slice(begin, begin + p.size()));
      }
    }
    pieces = std::move(out);
  }

 private:
  bool add_prefix_space_, use_regex_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)),
        replace_(Pattern::FromString(" ")),
        scheme_(scheme),
        split_(split) {}
  void Split(std::vector<NormalizedText>& pieces) const override {
    std::vector<NormalizedText> out;
    std::vector<std::pair<size_t, size_t>> matches;
    for (const NormalizedText& original : pieces) {
      NormalizedText piece;
      size_t last = 0;
      matches.clear();
      replace_.Matches(original.text, matches);
      for (const auto& [b, e] : matches) {
        NormalizedText kept = original.Slice(last, b);
        piece.text += kept.text;
        piece.align.insert(piece.align.end(), kept.align.begin(), kept.align.end());
        piece.Append(replacement_, original.align[e - 1]);  // as HF's replace aligns it
        last = e;
      }
      NormalizedText rest = original.Slice(last, original.text.size());
      piece.text += rest.text;
      piece.align.insert(piece.align.end(), rest.align.begin(), rest.align.end());
      const bool prepend =
          scheme_ == PrependScheme::kAlways ||
          (scheme_ == PrependScheme::kFirst && !piece.empty() && piece.align[0].begin == 0);
      if (prepend && !piece.text.starts_with(replacement_)) piece.Prepend(replacement_);
      if (!split_) {
        if (!piece.empty()) out.push_back(std::move(piece));
        continue;
      }
      matches.clear();
      Pattern::FromString(replacement_).Matches(piece.text, matches);
      SplitByMatches(piece, matches, Behavior::kMergedWithNext, false, out);
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  Pattern replace_;
  PrependScheme scheme_;
  bool split_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void Split(std::vector<NormalizedText>& pieces) const override {
    for (const auto& step : steps_) step->Split(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

Result<std::unique_ptr<PreTokenizer>> RegexStep(const std::string& regex, Behavior behavior,
                                                bool invert) {
  LF_ASSIGN_OR_RETURN(Pattern pattern, Pattern::FromRegex(regex));
  return std::unique_ptr<PreTokenizer>(
      std::make_unique<PatternSplit>(std::move(pattern), behavior, invert));
}

Result<std::unique_ptr<PreTokenizer>> ParseMetaspace(const JsonField& field) {
  LF_ASSIGN_OR_RETURN(std::string replacement, field.StringOr("replacement", "\u2581"));
  if (utf8::IsValid(replacement)) {
    size_t pos = 0;
    if (!replacement.empty()) utf8::Next(replacement, pos);
    if (replacement.empty() || pos != replacement.size()) {
      return field.Optional("replacement")->Error("expected one character");
    }
  }
  // Files before tokenizers 0.19 have add_prefix_space instead of prepend_scheme.
  LF_ASSIGN_OR_RETURN(bool add_prefix_space, field.BoolOr("add_prefix_space", true));
  PrependScheme scheme = add_prefix_space ? PrependScheme::kAlways : PrependScheme::kNever;
  if (auto scheme_field = field.Optional("prepend_scheme")) {
    LF_ASSIGN_OR_RETURN(std::string name, scheme_field->String());
    if (name == "always") {
      scheme = PrependScheme::kAlways;
    } else if (name == "first") {
      scheme = PrependScheme::kFirst;
    } else if (name == "never") {
      scheme = PrependScheme::kNever;
    } else {
      return scheme_field->Error("expected \"always\", \"first\" or \"never\", got \"" + name +
                                 "\"");
    }
  }
  LF_ASSIGN_OR_RETURN(bool split, field.BoolOr("split", true));
  return std::unique_ptr<PreTokenizer>(
      std::make_unique<Metaspace>(std::move(replacement), scheme, split));
}

Result<std::unique_ptr<PreTokenizer>> ParseStep(const JsonField& field, bool last,
                                                bool& byte_level) {
  LF_ASSIGN_OR_RETURN(JsonField type_field, field.Required("type"));
  std::string type;  // declared apart: GCC 12 warns (falsely) of an uninitialized string
  LF_ASSIGN_OR_RETURN(type, type_field.String());
  if (type == "Sequence") {
    LF_ASSIGN_OR_RETURN(JsonField list, field.Required("pretokenizers"));
    LF_ASSIGN_OR_RETURN(std::vector<JsonField> elements, list.Elements());
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < elements.size(); ++i) {
      LF_ASSIGN_OR_RETURN(std::unique_ptr<PreTokenizer> step,
                          ParseStep(elements[i], last && i + 1 == elements.size(), byte_level));
      steps.push_back(std::move(step));
    }
    return std::unique_ptr<PreTokenizer>(std::make_unique<Sequence>(std::move(steps)));
  }
  if (byte_level) {
    return type_field.Error("pre-tokenizer \"" + type +
                            "\" after ByteLevel is not supported; ByteLevel must be the last step");
  }
  if (type == "ByteLevel") {
    if (!last) {
      return type_field.Error(
          "a ByteLevel pre-tokenizer that is not the last step is not "
          "supported");
    }
    byte_level = true;
    // Hugging Face's defaults for a ByteLevel without these fields; trim_offsets only changes
    // offsets in the post-processor.
    LF_ASSIGN_OR_RETURN(bool add_prefix_space, field.BoolOr("add_prefix_space", true));
    LF_ASSIGN_OR_RETURN(bool use_regex, field.BoolOr("use_regex", true));
    return std::unique_ptr<PreTokenizer>(std::make_unique<ByteLevel>(add_prefix_space, use_regex));
  }
  if (type == "Split") {
    LF_ASSIGN_OR_RETURN(JsonField pattern_field, field.Required("pattern"));
    LF_ASSIGN_OR_RETURN(Pattern pattern, Pattern::Parse(pattern_field));
    LF_ASSIGN_OR_RETURN(JsonField behavior_field, field.Required("behavior"));
    LF_ASSIGN_OR_RETURN(Behavior behavior, ParseBehavior(behavior_field));
    LF_ASSIGN_OR_RETURN(bool invert, field.BoolOr("invert", false));
    return std::unique_ptr<PreTokenizer>(
        std::make_unique<PatternSplit>(std::move(pattern), behavior, invert));
  }
  if (type == "Digits") {
    LF_ASSIGN_OR_RETURN(bool individual, field.BoolOr("individual_digits", false));
    // Rust's char::is_numeric: the N categories.
    return RegexStep("\\p{N}", individual ? Behavior::kIsolated : Behavior::kContiguous, false);
  }
  if (type == "Punctuation") {
    Behavior behavior = Behavior::kIsolated;
    if (auto b = field.Optional("behavior")) {
      LF_ASSIGN_OR_RETURN(behavior, ParseBehavior(*b));
    }
    // Rust's is_ascii_punctuation() || is_punctuation() (the P categories).
    return RegexStep(R"([\p{P}!-/:-@\[-`{-~])", behavior, false);
  }
  if (type == "WhitespaceSplit") return RegexStep(R"(\s)", Behavior::kRemoved, false);
  if (type == "Whitespace") return RegexStep(R"(\w+|[^\w\s]+)", Behavior::kRemoved, true);
  if (type == "Metaspace") return ParseMetaspace(field);
  return type_field.Error("pre-tokenizer \"" + type + "\" is not supported; " +
                          std::string(kSupported));
}

}  // namespace

std::unique_ptr<PreTokenizer> MakeByteLevelPreTokenizer(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevel>(add_prefix_space, use_regex);
}

Result<ParsedPreTokenizer> ParsePreTokenizer(const JsonField& field) {
  ParsedPreTokenizer parsed;
  LF_ASSIGN_OR_RETURN(parsed.pre_tokenizer, ParseStep(field, true, parsed.byte_level));
  return parsed;
}

}  // namespace lf::worker
