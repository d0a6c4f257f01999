// Expressions, with jinja2's precedence: conditional < or < and < not < comparisons < + - < ~ <
// * / // % < ** < unary minus < postfix (. [] ()) and filters/tests.
#include "worker/chat/jinja_builtins.h"
#include "worker/chat/jinja_parser.h"

namespace lf::worker::jinja {

struct DepthGuard {
  explicit DepthGuard(TokenStream& s) : stream(s) {}
  ~DepthGuard() { --stream.depth_; }
  TokenStream& stream;
};

namespace {

ExprPtr MakeExpr(Expr::Kind kind, int line, std::string name = {}) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  e->name = std::move(name);
  return e;
}

ExprPtr MakeBinary(Expr::Kind kind, std::string op, ExprPtr a, ExprPtr b) {
  auto e = MakeExpr(kind, a->line, std::move(op));
  e->args.push_back(std::move(a));
  e->args.push_back(std::move(b));
  return e;
}

}  // namespace

Status TokenStream::Enter() {
  if (++depth_ > kMaxNesting) {
    return Error("expression nested deeper than " + std::to_string(kMaxNesting) + " levels");
  }
  return Status::Ok();
}

Status TokenStream::ExpectOp(std::string_view op) {
  if (SkipOp(op)) return Status::Ok();
  return Error("expected '" + std::string(op) + "', got " +
               (AtEnd() ? std::string("the end of the tag") : "'" + Peek().text + "'"));
}

Result<std::string> TokenStream::ExpectName() {
  if (Peek().kind != Token::Kind::kName) {
    return Error("expected a name, got " +
                 (AtEnd() ? std::string("the end of the tag") : "'" + Peek().text + "'"));
  }
  return Next().text;
}

Status TokenStream::ExpectEnd() {
  if (AtEnd()) return Status::Ok();
  return Error("unexpected '" + Peek().text + "'");
}

Result<ExprPtr> TokenStream::ParseExpression(bool allow_condition) {
  LF_ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
  while (allow_condition && IsName("if")) {
    int line = Next().line;
    LF_ASSIGN_OR_RETURN(ExprPtr condition, ParseOr());
    auto node = MakeExpr(Expr::Kind::kCondition, line);
    node->args.push_back(std::move(expr));
    node->args.push_back(std::move(condition));
    if (SkipName("else")) {
      LF_ASSIGN_OR_RETURN(ExprPtr otherwise, ParseExpression());
      node->args.push_back(std::move(otherwise));
    } else {
      node->args.push_back(nullptr);
    }
    expr = std::move(node);
  }
  return expr;
}

Result<ExprPtr> TokenStream::ParseTupleOrExpression() {
  int line = Peek().line;
  LF_ASSIGN_OR_RETURN(ExprPtr first, ParseExpression());
  if (!IsOp(",")) return first;
  auto tuple = MakeExpr(Expr::Kind::kTuple, line);
  tuple->args.push_back(std::move(first));
  while (SkipOp(",")) {
    if (AtEnd()) break;
    LF_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
    tuple->args.push_back(std::move(item));
  }
  return tuple;
}

Result<ExprPtr> TokenStream::ParseOr() {
  LF_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
  while (SkipName("or")) {
    LF_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
    left = MakeBinary(Expr::Kind::kOr, "or", std::move(left), std::move(right));
  }
  return left;
}

Result<ExprPtr> TokenStream::ParseAnd() {
  LF_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
  while (SkipName("and")) {
    LF_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
    left = MakeBinary(Expr::Kind::kAnd, "and", std::move(left), std::move(right));
  }
  return left;
}

Result<ExprPtr> TokenStream::ParseNot() {
  if (IsName("not")) {
    int line = Next().line;
    LF_RETURN_IF_ERROR(Enter());
    DepthGuard guard(*this);
    LF_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
    auto node = MakeExpr(Expr::Kind::kUnary, line, "not");
    node->args.push_back(std::move(operand));
    return node;
  }
  return ParseCompare();
}

Result<ExprPtr> TokenStream::ParseCompare() {
  LF_ASSIGN_OR_RETURN(ExprPtr left, ParseMath1());
  ExprPtr result;
  const Expr* previous = nullptr;  // chained comparisons: a < b < c is a < b and b < c
  ExprPtr current = std::move(left);
  while (true) {
    std::string op;
    static const char* const kOps[] = {"==", "!=", "<", "<=", ">", ">="};
    for (const char* candidate : kOps) {
      if (IsOp(candidate)) op = candidate;
    }
    if (op.empty() && IsName("in")) op = "in";
    if (op.empty() && IsName("not") && IsName("in", 1)) {
      Next();
      op = "not in";
    }
    if (op.empty()) break;
    Next();
    LF_ASSIGN_OR_RETURN(ExprPtr right, ParseMath1());
    if (previous != nullptr) {
      return Error("chained comparisons (a < b < c) are not supported");
    }
    current = MakeBinary(Expr::Kind::kBinary, op, std::move(current), std::move(right));
    previous = current.get();
  }
  return current;
}

Result<ExprPtr> TokenStream::ParseMath1() {
  LF_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
  while (IsOp("+") || IsOp("-")) {
    std::string op = Next().text;
    LF_ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
    left = MakeBinary(Expr::Kind::kBinary, op, std::move(left), std::move(right));
  }
  return left;
}

Result<ExprPtr> TokenStream::ParseConcat() {
  LF_ASSIGN_OR_RETURN(ExprPtr left, ParseMath2());
  while (SkipOp("~")) {
    LF_ASSIGN_OR_RETURN(ExprPtr right, ParseMath2());
    left = MakeBinary(Expr::Kind::kBinary, "~", std::move(left), std::move(right));
  }
  return left;
}

Result<ExprPtr> TokenStream::ParseMath2() {
  LF_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    std::string op = Next().text;
    LF_ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
    left = MakeBinary(Expr::Kind::kBinary, op, std::move(left), std::move(right));
  }
  return left;
}

Result<ExprPtr> TokenStream::ParsePow() {
  LF_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
  while (SkipOp("**")) {
    LF_ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
    left = MakeBinary(Expr::Kind::kBinary, "**", std::move(left), std::move(right));
  }
  return left;
}

Result<ExprPtr> TokenStream::ParseUnary(bool with_filter) {
  LF_RETURN_IF_ERROR(Enter());
  DepthGuard guard(*this);
  ExprPtr node;
  if (IsOp("-") || IsOp("+")) {
    const Token& op = Next();
    node = MakeExpr(Expr::Kind::kUnary, op.line, op.text);
    LF_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
    node->args.push_back(std::move(operand));
  } else {
    LF_ASSIGN_OR_RETURN(node, ParsePrimary());
  }
  LF_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
  if (with_filter) {
    LF_ASSIGN_OR_RETURN(node, ParseFilterAndTest(std::move(node)));
  }
  return node;
}

Result<ExprPtr> TokenStream::ParsePrimary() {
  const Token& token = Peek();
  int line = token.line;
  switch (token.kind) {
    case Token::Kind::kName: {
      std::string name = Next().text;
      auto node = MakeExpr(Expr::Kind::kLiteral, line);
      if (name == "true" || name == "True") {
        node->literal = true;
      } else if (name == "false" || name == "False") {
        node->literal = false;
      } else if (name == "none" || name == "None") {
        node->literal = NoneValue{};
      } else {
        node->kind = Expr::Kind::kName;
        node->name = name;
      }
      return node;
    }
    case Token::Kind::kString: {
      std::string text;
      while (Peek().kind == Token::Kind::kString) text += Next().text;  // "a" "b" is "ab"
      auto node = MakeExpr(Expr::Kind::kLiteral, line);
      node->literal = std::move(text);
      return node;
    }
    case Token::Kind::kInt:
    case Token::Kind::kFloat: {
      std::string text = Next().text;
      auto node = MakeExpr(Expr::Kind::kLiteral, line);
      try {
        if (token.kind == Token::Kind::kInt) {
          node->literal = int64_t{std::stoll(text)};
        } else {
          node->literal = std::stod(text);
        }
      } catch (const std::exception&) {
        return TemplateError(name_, line, "number " + text + " is out of range");
      }
      return node;
    }
    case Token::Kind::kOp:
      break;
    case Token::Kind::kEnd:
      return Error("expected an expression, got the end of the tag");
  }
  if (SkipOp("(")) {
    if (SkipOp(")")) return MakeExpr(Expr::Kind::kTuple, line);
    LF_ASSIGN_OR_RETURN(ExprPtr first, ParseExpression());
    if (SkipOp(")")) return first;
    auto tuple = MakeExpr(Expr::Kind::kTuple, line);
    tuple->args.push_back(std::move(first));
    while (SkipOp(",")) {
      if (IsOp(")")) break;
      LF_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
      tuple->args.push_back(std::move(item));
    }
    LF_RETURN_IF_ERROR(ExpectOp(")"));
    return tuple;
  }
  if (SkipOp("[")) {
    auto list = MakeExpr(Expr::Kind::kList, line);
    while (!SkipOp("]")) {
      if (!list->args.empty()) LF_RETURN_IF_ERROR(ExpectOp(","));
      if (SkipOp("]")) break;
      LF_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
      list->args.push_back(std::move(item));
    }
    return list;
  }
  if (SkipOp("{")) {
    auto dict = MakeExpr(Expr::Kind::kDict, line);
    while (!SkipOp("}")) {
      if (!dict->args.empty()) LF_RETURN_IF_ERROR(ExpectOp(","));
      if (SkipOp("}")) break;
      LF_ASSIGN_OR_RETURN(ExprPtr key, ParseExpression());
      LF_RETURN_IF_ERROR(ExpectOp(":"));
      LF_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      dict->args.push_back(std::move(key));
      dict->args.push_back(std::move(value));
    }
    return dict;
  }
  return Error("unexpected '" + token.text + "'");
}

Result<ExprPtr> TokenStream::ParsePostfix(ExprPtr node) {
  while (true) {
    int line = Peek().line;
    if (SkipOp(".")) {
      if (Peek().kind == Token::Kind::kInt) {
        auto item = MakeExpr(Expr::Kind::kGetItem, line);
        auto index = MakeExpr(Expr::Kind::kLiteral, line);
        index->literal = int64_t{std::stoll(Next().text)};
        item->args.push_back(std::move(node));
        item->args.push_back(std::move(index));
        node = std::move(item);
        continue;
      }
      LF_ASSIGN_OR_RETURN(std::string attribute, ExpectName());
      auto attr = MakeExpr(Expr::Kind::kGetAttr, line, attribute);
      attr->args.push_back(std::move(node));
      node = std::move(attr);
    } else if (SkipOp("[")) {
      ExprPtr bounds[3];
      bool is_slice = false;
      if (!IsOp(":")) {
        LF_ASSIGN_OR_RETURN(bounds[0], ParseExpression());
      }
      if (SkipOp(":")) {
        is_slice = true;
        if (!IsOp(":") && !IsOp("]")) {
          LF_ASSIGN_OR_RETURN(bounds[1], ParseExpression());
        }
        if (SkipOp(":") && !IsOp("]")) {
          LF_ASSIGN_OR_RETURN(bounds[2], ParseExpression());
        }
      }
      LF_RETURN_IF_ERROR(ExpectOp("]"));
      auto item = MakeExpr(is_slice ? Expr::Kind::kSlice : Expr::Kind::kGetItem, line);
      item->args.push_back(std::move(node));
      item->args.push_back(std::move(bounds[0]));
      if (is_slice) {
        item->args.push_back(std::move(bounds[1]));
        item->args.push_back(std::move(bounds[2]));
      }
      node = std::move(item);
    } else if (SkipOp("(")) {
      auto call = MakeExpr(Expr::Kind::kCall, line);
      call->args.push_back(std::move(node));
      LF_RETURN_IF_ERROR(ParseArgs(*call));
      node = std::move(call);
    } else {
      return node;
    }
  }
}

Status TokenStream::ParseArgs(Expr& call) {
  bool first = true;
  while (!SkipOp(")")) {
    if (!first) LF_RETURN_IF_ERROR(ExpectOp(","));
    first = false;
    if (SkipOp(")")) break;
    if (IsOp("*") || IsOp("**")) return Error("*args and **kwargs in calls are not supported");
    if (Peek().kind == Token::Kind::kName && IsOp("=", 1)) {
      std::string key = Next().text;
      Next();
      LF_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      call.kwargs.emplace_back(std::move(key), std::move(value));
    } else {
      if (!call.kwargs.empty()) return Error("positional argument after a keyword argument");
      LF_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      call.args.push_back(std::move(value));
    }
  }
  return Status::Ok();
}

Result<ExprPtr> TokenStream::ParseFilterAndTest(ExprPtr node) {
  while (true) {
    int line = Peek().line;
    if (SkipOp("|")) {
      LF_ASSIGN_OR_RETURN(std::string filter, ExpectName());
      if (!IsKnownFilter(filter)) {
        return TemplateError(name_, line, "filter \"" + filter + "\" is not supported");
      }
      auto call = MakeExpr(Expr::Kind::kFilter, line, filter);
      call->args.push_back(std::move(node));
      if (SkipOp("(")) LF_RETURN_IF_ERROR(ParseArgs(*call));
      node = std::move(call);
    } else if (SkipName("is")) {
      bool negated = SkipName("not");
      LF_ASSIGN_OR_RETURN(std::string test, ExpectName());
      if (!IsKnownTest(test)) {
        return TemplateError(name_, line, "test \"" + test + "\" is not supported");
      }
      auto call = MakeExpr(Expr::Kind::kTest, line, test);
      call->negated = negated;
      call->args.push_back(std::move(node));
      const Token& next = Peek();
      if (SkipOp("(")) {
        LF_RETURN_IF_ERROR(ParseArgs(*call));
      } else if (next.kind == Token::Kind::kString || next.kind == Token::Kind::kInt ||
                 next.kind == Token::Kind::kFloat || IsOp("[") || IsOp("{") ||
                 (next.kind == Token::Kind::kName && next.text != "else" && next.text != "or" &&
                  next.text != "and" && next.text != "if" && next.text != "is" &&
                  next.text != "not" && next.text != "in")) {
        LF_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
        LF_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
        call->args.push_back(std::move(arg));
      }
      node = std::move(call);
    } else if (SkipOp("(")) {
      auto call = MakeExpr(Expr::Kind::kCall, line);
      call->args.push_back(std::move(node));
      LF_RETURN_IF_ERROR(ParseArgs(*call));
      node = std::move(call);
    } else {
      return node;
    }
  }
}

}  // namespace lf::worker::jinja
