// The recursive-descent parser over the lexer's segments: statements in jinja_parser.cpp,
// expressions (jinja2's operator precedence) in jinja_parse_expr.cpp. Internal to lf_chat.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "worker/chat/jinja_ast.h"
#include "worker/chat/jinja_lexer.h"

namespace lf::worker::jinja {

// Reads the tokens of one tag.
class TokenStream {
 public:
  TokenStream(const std::vector<Token>& tokens, const std::string& name)
      : tokens_(tokens), name_(name) {}
  const Token& Peek(size_t ahead = 0) const {
    size_t i = pos_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool AtEnd() const { return Peek().kind == Token::Kind::kEnd; }
  bool IsOp(std::string_view op, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::Kind::kOp && Peek(ahead).text == op;
  }
  bool IsName(std::string_view name, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::Kind::kName && Peek(ahead).text == name;
  }
  bool SkipOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(std::string_view name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }
  Status Error(const std::string& message) const {
    return TemplateError(name_, Peek().line, message);
  }
  Status ExpectOp(std::string_view op);
  Result<std::string> ExpectName();
  Status ExpectEnd();

  // Expressions (jinja_parse_expr.cpp).
  Result<ExprPtr> ParseExpression(bool allow_condition = true);
  // A bare tuple "a, b" as in `set a, b = ...` right-hand sides.
  Result<ExprPtr> ParseTupleOrExpression();

 private:
  Result<ExprPtr> ParseOr();
  Result<ExprPtr> ParseAnd();
  Result<ExprPtr> ParseNot();
  Result<ExprPtr> ParseCompare();
  Result<ExprPtr> ParseMath1();
  Result<ExprPtr> ParseConcat();
  Result<ExprPtr> ParseMath2();
  Result<ExprPtr> ParsePow();
  Result<ExprPtr> ParseUnary(bool with_filter);
  Result<ExprPtr> ParsePrimary();
  Result<ExprPtr> ParsePostfix(ExprPtr node);
  Result<ExprPtr> ParseFilterAndTest(ExprPtr node);
  Status ParseArgs(Expr& call);  // after "(": positional and keyword arguments, then ")"
  Status Enter();

  const std::vector<Token>& tokens_;
  const std::string& name_;
  size_t pos_ = 0;
  size_t depth_ = 0;
  friend struct DepthGuard;
};

}  // namespace lf::worker::jinja
