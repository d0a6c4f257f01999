// The lexer: jinja2's rules for where text ends and tags begin, and for whitespace around tags.
#include "worker/chat/jinja_lexer.h"

#include <cctype>

namespace lf::worker::jinja {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string NormalizeNewlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's unicode-escape decoding of a string literal's body.
Result<std::string> Unescape(std::string_view body) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 == body.size()) {
      out += body[i];
      continue;
    }
    char c = body[++i];
    switch (c) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
      case 'u':
      case 'U': {
        size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        if (i + digits >= body.size()) {
          return InvalidArgument(std::string("truncated \\") + c + " escape in a string literal");
        }
        uint32_t code = 0;
        for (size_t k = 1; k <= digits; ++k) {
          int h = HexValue(body[i + k]);
          if (h < 0)
            return InvalidArgument(std::string("bad \\") + c + " escape in a string literal");
          code = code * 16 + uint32_t(h);
        }
        if (code > 0x10FFFF) return InvalidArgument("escape beyond U+10FFFF in a string literal");
        AppendUtf8(code, out);
        i += digits;
        break;
      }
      case 'N':
        return InvalidArgument("\\N{...} escapes in string literals are not supported");
      default:
        if (c >= '0' && c <= '7') {
          uint32_t code = 0;
          size_t k = 0;
          while (k < 3 && i + k < body.size() && body[i + k] >= '0' && body[i + k] <= '7') {
            code = code * 8 + uint32_t(body[i + k] - '0');
            ++k;
          }
          AppendUtf8(code, out);
          i += k - 1;
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  Lexer(std::string source, const std::string& name) : src_(std::move(source)), name_(name) {}

  Result<std::vector<Segment>> Run() {
    std::vector<Segment> segments;
    size_t pos = 0;
    while (pos < src_.size()) {
      size_t start = FindTagStart(pos);
      std::string text = src_.substr(pos, start - pos);
      if (start == src_.size()) {
        AddText(segments, std::move(text), pos);
        break;
      }
      char kind = src_[start + 1];  // '{', '%' or '#'
      char left = start + 2 < src_.size() ? src_[start + 2] : '\0';
      bool line_starting = pos == 0 || src_[pos - 1] == '\n';
      if (left == '-') {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      } else if (left != '+' && kind != '{') {  // lstrip_blocks
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if (l_pos > 0 || line_starting) {
          bool all_space = l_pos < text.size();
          for (size_t i = l_pos; i < text.size(); ++i) all_space = all_space && IsSpace(text[i]);
          if (all_space) text.resize(l_pos);
        }
      }
      AddText(segments, std::move(text), pos);
      size_t inner = start + 2 + (left == '-' || left == '+' ? 1 : 0);
      int line = LineAt(start);
      size_t end = 0;
      char right = '\0';
      if (kind == '#') {
        size_t close = src_.find("#}", inner);
        if (close == std::string::npos)
          return TemplateError(name_, line, "unclosed comment {# ... #}");
        right = close > inner && src_[close - 1] == '-' ? '-' : '\0';
        end = close + 2;
      } else {
        Segment seg;
        seg.kind = kind == '{' ? Segment::Kind::kOutput : Segment::Kind::kStatement;
        seg.line = line;
        LF_ASSIGN_OR_RETURN(end, Tokenize(inner, kind == '{' ? '}' : '%', seg.tokens, right));
        segments.push_back(std::move(seg));
      }
      if (right == '-') {
        while (end < src_.size() && IsSpace(src_[end])) ++end;
      } else if (kind != '{' && right != '+' && end < src_.size() && src_[end] == '\n') {
        ++end;  // trim_blocks
      }
      pos = end;
    }
    return segments;
  }

 private:
  size_t FindTagStart(size_t pos) const {
    for (size_t i = src_.find('{', pos); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return src_.size();
  }

  int LineAt(size_t pos) {
    for (; line_pos_ < pos && line_pos_ < src_.size(); ++line_pos_) {
      if (src_[line_pos_] == '\n') ++line_;
    }
    return line_;
  }

  void AddText(std::vector<Segment>& segments, std::string text, size_t pos) {
    if (text.empty()) return;
    Segment seg;
    seg.kind = Segment::Kind::kText;
    seg.line = LineAt(pos);
    seg.text = std::move(text);
    segments.push_back(std::move(seg));
  }

  // Tokens from `i` up to the closing "}}" or "%}" at bracket depth 0; returns the position
  // after it and sets `right` to the modifier before it ('-', '+' or '\0').
  Result<size_t> Tokenize(size_t i, char close, std::vector<Token>& tokens, char& right) {
    int depth = 0;
    int open_line = LineAt(i);
    while (true) {
      while (i < src_.size() && IsSpace(src_[i])) ++i;
      if (i >= src_.size()) {
        return TemplateError(name_, open_line,
                             close == '}' ? "unclosed {{ ... }}" : "unclosed {% ... %}");
      }
      int line = LineAt(i);
      auto at = [&](std::string_view s) { return src_.compare(i, s.size(), s) == 0; };
      if (depth == 0) {
        std::string end_marker = std::string(1, close) + "}";
        if (at(end_marker)) {
          tokens.push_back(Token{Token::Kind::kEnd, "", line});
          return i + 2;
        }
        if ((src_[i] == '-' || src_[i] == '+') && src_.compare(i + 1, 2, end_marker) == 0) {
          right = src_[i];
          tokens.push_back(Token{Token::Kind::kEnd, "", line});
          return i + 3;
        }
      }
      char c = src_[i];
      if (c == '\'' || c == '"') {
        size_t j = i + 1;
        while (j < src_.size() && src_[j] != c) j += src_[j] == '\\' ? 2 : 1;
        if (j >= src_.size()) return TemplateError(name_, line, "unterminated string literal");
        auto text = Unescape(std::string_view(src_).substr(i + 1, j - i - 1));
        if (!text.ok()) return TemplateError(name_, line, text.status().message());
        tokens.push_back(Token{Token::Kind::kString, *std::move(text), line});
        i = j + 1;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t j = i;
        auto digits = [&] {
          while (j < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[j])) ||
                                     (src_[j] == '_' && j + 1 < src_.size() &&
                                      std::isdigit(static_cast<unsigned char>(src_[j + 1]))))) {
            ++j;
          }
        };
        digits();
        bool is_float = false;
        if (j + 1 < src_.size() && src_[j] == '.' &&
            std::isdigit(static_cast<unsigned char>(src_[j + 1]))) {
          ++j;
          digits();
          is_float = true;
        }
        if (j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
          size_t k = j + 1;
          if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
          if (k < src_.size() && std::isdigit(static_cast<unsigned char>(src_[k]))) {
            j = k;
            digits();
            is_float = true;
          }
        }
        std::string text;
        for (size_t k = i; k < j; ++k) {
          if (src_[k] != '_') text += src_[k];
        }
        tokens.push_back(Token{is_float ? Token::Kind::kFloat : Token::Kind::kInt, text, line});
        i = j;
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t j = i;
        while (j < src_.size() &&
               (std::isalnum(static_cast<unsigned char>(src_[j])) || src_[j] == '_')) {
          ++j;
        }
        tokens.push_back(Token{Token::Kind::kName, src_.substr(i, j - i), line});
        i = j;
      } else {
        static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                           "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                           "]",  "{",  "}",  ",",  ".",  ":",  "|"};
        std::string op;
        for (const char* candidate : kOps) {
          if (at(candidate)) {
            op = candidate;
            break;
          }
        }
        if (op.empty()) {
          return TemplateError(name_, line, std::string("unexpected character '") + c + "'");
        }
        if (op == "(" || op == "[" || op == "{") ++depth;
        if (op == ")" || op == "]" || op == "}") --depth;
        if (depth < 0) return TemplateError(name_, line, "unbalanced '" + op + "'");
        tokens.push_back(Token{Token::Kind::kOp, op, line});
        i += op.size();
      }
    }
  }

  std::string src_;
  const std::string& name_;
  size_t line_pos_ = 0;
  int line_ = 1;
};

}  // namespace

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

Result<std::vector<Segment>> Lex(std::string_view source, const std::string& name) {
  return Lexer(NormalizeNewlines(source), name).Run();
}

}  // namespace lf::worker::jinja
