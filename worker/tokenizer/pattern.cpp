#include "worker/tokenizer/pattern.h"

#include "worker/tokenizer/byte_level.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/utf8.h"

namespace lf::worker {
namespace {

// Code points that Hugging Face `tokenizers` (Unicode 16) counts as letters or numbers but that
// the Unicode 14 tables of PCRE2 10.42 do not. Found by comparing both on every code point; the
// test PreTokenizerClassesMatchHuggingFace checks the result against the committed probe of HF.
constexpr const char* kExtraLetters =
    R"(\x{1C89}-\x{1C8A}\x{A7CB}-\x{A7CD}\x{A7DA}-\x{A7DC}\x{105C0}-\x{105F3}\x{10D4A}-\x{10D65})"
    R"(\x{10D6F}-\x{10D85}\x{10EC2}-\x{10EC4}\x{1123F}-\x{11240}\x{11380}-\x{11389}\x{1138B})"
    R"(\x{1138E}\x{11390}-\x{113B5}\x{113B7}\x{113D1}\x{113D3}\x{11BC0}-\x{11BE0}\x{11F02})"
    R"(\x{11F04}-\x{11F10}\x{11F12}-\x{11F33}\x{1342F}\x{13441}-\x{13446}\x{13460}-\x{143FA})"
    R"(\x{16100}-\x{1611D}\x{16D40}-\x{16D6C}\x{18CFF}\x{1B132}\x{1B155}\x{1DF25}-\x{1DF2A})"
    R"(\x{1E030}-\x{1E06D}\x{1E4D0}-\x{1E4EB}\x{1E5D0}-\x{1E5ED}\x{1E5F0}\x{2B739})"
    R"(\x{2EBF0}-\x{2EE5D}\x{31350}-\x{323AF})";
constexpr const char* kExtraNumbers =
    R"(\x{10D40}-\x{10D49}\x{116D0}-\x{116E3}\x{11BF0}-\x{11BF9}\x{11F50}-\x{11F59})"
    R"(\x{16130}-\x{16139}\x{16D70}-\x{16D79}\x{1CCF0}-\x{1CCF9}\x{1D2C0}-\x{1D2D3})"
    R"(\x{1E4F0}-\x{1E4F9}\x{1E5F1}-\x{1E5FA})";
// The decimal digits (Nd) among them: what HF's \d adds to PCRE2 10.42's.
constexpr const char* kExtraDigits =
    R"(\x{10D40}-\x{10D49}\x{116D0}-\x{116E3}\x{11BF0}-\x{11BF9}\x{11F50}-\x{11F59})"
    R"(\x{16130}-\x{16139}\x{16D70}-\x{16D79}\x{1CCF0}-\x{1CCF9}\x{1E4F0}-\x{1E4F9})"
    R"(\x{1E5F1}-\x{1E5FA})";
// Code points in HF's \w (Unicode 16 digits and marks) that PCRE2 10.42's \p{Nd} and \p{M} lack,
// found the same way (WordClassMatchesHuggingFace checks it).
constexpr const char* kExtraWord =
    R"(\x{897}\x{CF3}\x{ECE}\x{10D40}-\x{10D49}\x{10D69}-\x{10D6D}\x{10EFC}-\x{10EFF}\x{11241})"
    R"(\x{113B8}-\x{113C0}\x{113C2}\x{113C5}\x{113C7}-\x{113CA}\x{113CC}-\x{113D0}\x{113D2})"
    R"(\x{113E1}-\x{113E2}\x{116D0}-\x{116E3}\x{11BF0}-\x{11BF9}\x{11F00}-\x{11F01}\x{11F03})"
    R"(\x{11F34}-\x{11F3A}\x{11F3E}-\x{11F42}\x{11F50}-\x{11F5A}\x{13440}\x{13447}-\x{13455})"
    R"(\x{1611E}-\x{16139}\x{16D70}-\x{16D79}\x{1CCF0}-\x{1CCF9}\x{1E08F}\x{1E4EC}-\x{1E4F9})"
    R"(\x{1E5EE}-\x{1E5EF}\x{1E5F1}-\x{1E5FA})";
// Unicode White_Space, which is what HF's \s matches. PCRE2's \s adds U+180E.
constexpr const char* kSpaces =
    R"(\t-\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

pcre2_code* Compile(const std::string& pattern, std::string* error) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 PCRE2_UTF | PCRE2_UCP, &code, &offset, nullptr);
  if (re == nullptr) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(code, buffer, sizeof(buffer));
    *error = std::string(reinterpret_cast<char*>(buffer)) + " at offset " + std::to_string(offset);
    return nullptr;
  }
  // Without JIT support (or memory for it) pcre2_match interprets the pattern: slower, same result.
  (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
  return re;
}

// One match block per thread, reused by every splitter: pcre2_match_data may not be shared.
// One ovector pair is enough because only the whole match is read.
struct ThreadMatchData {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  ~ThreadMatchData() { pcre2_match_data_free(data); }
};

}  // namespace

std::string LetterClass() { return std::string(R"(\p{L})") + kExtraLetters; }
std::string NumberClass() { return std::string(R"(\p{N})") + kExtraNumbers; }
std::string SpaceClass() { return kSpaces; }
// Oniguruma's Unicode \w (Rust regex's too): Alphabetic (letters, Nl and Other_Alphabetic: marks
// and the circled letters), marks, decimal digits, connector punctuation and the joiners. PCRE2
// 10.42's \w lacks the marks and joiners.
std::string WordClass() {
  return LetterClass() + R"(\p{Nl}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}\x{24B6}-\x{24E9})" +
         R"(\x{1F130}-\x{1F149}\x{1F150}-\x{1F169}\x{1F170}-\x{1F189})" + kExtraWord;
}

std::string OnigToPcre2(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() * 4);
  bool in_class = false;
  size_t class_start = 0;  // where the current class's body starts (after "[" or "[^")
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      std::string body;  // the class body that replaces the escape, if any
      bool negated = false;
      size_t used = 2;
      if ((e == 'p' || e == 'P') && pattern.substr(i + 2, 3) == "{L}") {
        body = LetterClass(), negated = e == 'P', used = 5;
      } else if ((e == 'p' || e == 'P') && pattern.substr(i + 2, 3) == "{N}") {
        body = NumberClass(), negated = e == 'P', used = 5;
      } else if (e == 's' || e == 'S') {
        body = SpaceClass(), negated = e == 'S';
      } else if (e == 'd' || e == 'D') {
        body = std::string(R"(\p{Nd})") + kExtraDigits, negated = e == 'D';
      } else if (e == 'w' || e == 'W') {
        body = WordClass(), negated = e == 'W';
      }
      if (!body.empty() && !in_class) {
        out += negated ? "[^" + body + "]" : "[" + body + "]";
      } else if (!body.empty() && !negated) {
        out += body;
      } else {  // any other escape, or a negated class inside a class: as PCRE2 reads it
        out.append(pattern.substr(i, used));
      }
      i += used - 1;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      class_start = i + 1;
      continue;
    }
    if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      const size_t close = pattern.find(":]", i + 2);  // a POSIX class such as [:alpha:]
      if (close != std::string_view::npos) {
        out.append(pattern.substr(i, close + 2 - i));
        i = close + 1;
        continue;
      }
    }
    if (in_class && c == ']' && i != class_start) in_class = false;
    out += c;
  }
  return out;
}

Result<std::unique_ptr<RegexSplitter>> RegexSplitter::Create(const std::string& pattern) {
  std::string error;
  pcre2_code* re = Compile(pattern, &error);
  if (re == nullptr) return InvalidArgument("invalid regex /" + pattern + "/: " + error);
  return std::unique_ptr<RegexSplitter>(new RegexSplitter(re));
}

const RegexSplitter& RegexSplitter::Gpt2() {
  static const RegexSplitter* const gpt2 = [] {
    auto splitter = Create(Gpt2PreTokenizerPattern());
    LF_CHECK_OK(splitter);
    return splitter->release();  // lives as long as the process
  }();
  return *gpt2;
}

RegexSplitter::~RegexSplitter() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void RegexSplitter::Split(std::string_view text, std::vector<std::string_view>& pieces) const {
  thread_local ThreadMatchData match;
  const auto* re = static_cast<const pcre2_code*>(code_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t last = 0;    // end of the last piece emitted
  size_t search = 0;  // where the next match is looked for
  while (search < text.size()) {
    int rc = pcre2_match(re, subject, text.size(), search, PCRE2_NO_UTF_CHECK, match.data, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(re, subject, text.size(), search, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       match.data, nullptr);
    }
    // No match, or a resource limit on hostile input: the rest is one piece (never a crash).
    if (rc < 0) break;
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.data);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end == begin) {  // empty match: look again one character further on
      size_t next = begin;
      utf8::Next(text, next);
      search = next;
      continue;
    }
    if (begin > last) pieces.push_back(text.substr(last, begin - last));
    pieces.push_back(text.substr(begin, end - begin));
    last = search = end;
  }
  if (last < text.size()) pieces.push_back(text.substr(last));
}

void RegexSplitter::Matches(std::string_view text,
                            std::vector<std::pair<size_t, size_t>>& out) const {
  thread_local ThreadMatchData match;
  const auto* re = static_cast<const pcre2_code*>(code_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t search = 0;
  while (search < text.size()) {
    int rc = pcre2_match(re, subject, text.size(), search, PCRE2_NO_UTF_CHECK, match.data, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(re, subject, text.size(), search, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       match.data, nullptr);
    }
    if (rc < 0) break;  // no match, or a resource limit on hostile input: no more matches
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.data);
    if (ovector[1] == ovector[0]) {  // empty match: look again one character further on
      size_t next = ovector[0];
      utf8::Next(text, next);
      search = next;
      continue;
    }
    out.emplace_back(ovector[0], ovector[1]);
    search = ovector[1];
  }
}

Result<Pattern> Pattern::Parse(const JsonField& field) {
  if (auto literal = field.Optional("String")) {
    LF_ASSIGN_OR_RETURN(std::string s, literal->String());
    return FromString(std::move(s));
  }
  if (auto regex = field.Optional("Regex")) {
    LF_ASSIGN_OR_RETURN(std::string s, regex->String());
    Result<Pattern> pattern = FromRegex(s);
    if (!pattern.ok()) return regex->Error(pattern.status().message());
    return pattern;
  }
  return field.Error("expected {\"String\": ...} or {\"Regex\": ...}, got " +
                     DescribeJsonValue(field.json()));
}

Result<Pattern> Pattern::FromRegex(const std::string& onig_pattern) {
  LF_ASSIGN_OR_RETURN(std::unique_ptr<RegexSplitter> regex,
                      RegexSplitter::Create(OnigToPcre2(onig_pattern)));
  Pattern p;
  p.regex_ = std::move(regex);
  return p;
}

Pattern Pattern::FromString(std::string literal) {
  Pattern p;
  p.literal_ = std::move(literal);
  return p;
}

void Pattern::Matches(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  if (regex_) {
    regex_->Matches(text, out);
    return;
  }
  if (literal_.empty()) return;
  size_t pos = 0;
  while ((pos = text.find(literal_, pos)) != std::string_view::npos) {
    out.emplace_back(pos, pos + literal_.size());
    pos += literal_.size();
  }
}

}  // namespace lf::worker
