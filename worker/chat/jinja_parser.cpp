// Statements: if/elif/else, for (with a filter and else), set (names, tuples, namespace
// attributes, blocks), generation, break and continue. Every other statement is refused.
#include "worker/chat/jinja_parser.h"

#include <algorithm>
#include <initializer_list>

#include "worker/chat/jinja_lexer.h"

namespace lf::worker::jinja {

Status TemplateError(const std::string& name, int line, const std::string& message) {
  return InvalidArgument(name + " line " + std::to_string(line) + ": " + message);
}

namespace {

struct Body {
  NodeList nodes;
  std::string end_tag;  // the keyword that closed it; empty at the end of the template
  size_t end_segment = 0;
};

class StatementParser {
 public:
  StatementParser(std::vector<Segment> segments, const std::string& name)
      : segments_(std::move(segments)), name_(name) {}

  Result<NodeList> ParseTemplate() {
    LF_ASSIGN_OR_RETURN(Body body, ParseBody({}, "", 0));
    return std::move(body.nodes);
  }
  bool has_generation() const { return has_generation_; }

 private:
  // Parses nodes until a statement whose keyword is one of `ends`. `opener` and `line` name the
  // block for the error when the template ends first.
  Result<Body> ParseBody(std::initializer_list<std::string_view> ends, std::string_view opener,
                         int line) {
    if (++depth_ > kMaxNesting) {
      return TemplateError(name_, line, "blocks nested deeper than " + std::to_string(kMaxNesting));
    }
    Body body;
    while (index_ < segments_.size()) {
      const Segment& seg = segments_[index_++];
      if (seg.kind == Segment::Kind::kText) {
        Node node;
        node.kind = Node::Kind::kText;
        node.line = seg.line;
        node.text = seg.text;
        body.nodes.push_back(std::move(node));
        continue;
      }
      TokenStream ts(seg.tokens, name_);
      if (seg.kind == Segment::Kind::kOutput) {
        Node node;
        node.kind = Node::Kind::kOutput;
        node.line = seg.line;
        LF_ASSIGN_OR_RETURN(node.expr, ts.ParseExpression());
        LF_RETURN_IF_ERROR(ts.ExpectEnd());
        body.nodes.push_back(std::move(node));
        continue;
      }
      LF_ASSIGN_OR_RETURN(std::string keyword, ts.ExpectName());
      if (std::find(ends.begin(), ends.end(), keyword) != ends.end()) {
        body.end_tag = keyword;
        body.end_segment = index_ - 1;
        --depth_;
        return body;
      }
      LF_ASSIGN_OR_RETURN(Node node, ParseStatement(keyword, ts, seg.line));
      body.nodes.push_back(std::move(node));
    }
    if (ends.size() > 0) {
      return TemplateError(name_, line,
                           "{% " + std::string(opener) + " %} is never closed (expected {% " +
                               std::string(*(ends.end() - 1)) + " %})");
    }
    --depth_;
    return body;
  }

  TokenStream StreamAfterKeyword(size_t segment) {
    TokenStream ts(segments_[segment].tokens, name_);
    ts.Next();
    return ts;
  }

  Result<Node> ParseStatement(const std::string& keyword, TokenStream& ts, int line) {
    Node node;
    node.line = line;
    if (keyword == "if") {
      node.kind = Node::Kind::kIf;
      LF_ASSIGN_OR_RETURN(ExprPtr condition, ts.ParseExpression());
      LF_RETURN_IF_ERROR(ts.ExpectEnd());
      node.conditions.push_back(std::move(condition));
      while (true) {
        LF_ASSIGN_OR_RETURN(Body body, ParseBody({"elif", "else", "endif"}, "if", line));
        node.bodies.push_back(std::move(body.nodes));
        TokenStream tail = StreamAfterKeyword(body.end_segment);
        if (body.end_tag == "elif") {
          LF_ASSIGN_OR_RETURN(ExprPtr next, tail.ParseExpression());
          LF_RETURN_IF_ERROR(tail.ExpectEnd());
          node.conditions.push_back(std::move(next));
          continue;
        }
        LF_RETURN_IF_ERROR(tail.ExpectEnd());
        if (body.end_tag == "else") {
          LF_ASSIGN_OR_RETURN(Body otherwise, ParseBody({"endif"}, "if", line));
          LF_RETURN_IF_ERROR(StreamAfterKeyword(otherwise.end_segment).ExpectEnd());
          node.else_body = std::move(otherwise.nodes);
        }
        return node;
      }
    }
    if (keyword == "for") {
      node.kind = Node::Kind::kFor;
      do {
        LF_ASSIGN_OR_RETURN(std::string target, ts.ExpectName());
        node.targets.push_back(std::move(target));
      } while (ts.SkipOp(","));
      if (!ts.SkipName("in")) return ts.Error("expected 'in' in the for statement");
      LF_ASSIGN_OR_RETURN(node.expr, ts.ParseExpression(/*allow_condition=*/false));
      if (ts.SkipName("if")) {
        LF_ASSIGN_OR_RETURN(node.condition, ts.ParseExpression());
      }
      if (ts.IsName("recursive")) return ts.Error("recursive for loops are not supported");
      LF_RETURN_IF_ERROR(ts.ExpectEnd());
      ++loop_depth_;
      LF_ASSIGN_OR_RETURN(Body body, ParseBody({"else", "endfor"}, "for", line));
      --loop_depth_;
      node.bodies.push_back(std::move(body.nodes));
      LF_RETURN_IF_ERROR(StreamAfterKeyword(body.end_segment).ExpectEnd());
      if (body.end_tag == "else") {
        LF_ASSIGN_OR_RETURN(Body otherwise, ParseBody({"endfor"}, "for", line));
        LF_RETURN_IF_ERROR(StreamAfterKeyword(otherwise.end_segment).ExpectEnd());
        node.else_body = std::move(otherwise.nodes);
      }
      return node;
    }
    if (keyword == "set") {
      node.kind = Node::Kind::kSet;
      LF_ASSIGN_OR_RETURN(std::string target, ts.ExpectName());
      node.targets.push_back(std::move(target));
      if (ts.SkipOp(".")) {
        LF_ASSIGN_OR_RETURN(node.attribute, ts.ExpectName());
      } else {
        while (ts.SkipOp(",")) {
          LF_ASSIGN_OR_RETURN(std::string more, ts.ExpectName());
          node.targets.push_back(std::move(more));
        }
      }
      if (ts.SkipOp("=")) {
        LF_ASSIGN_OR_RETURN(node.expr, ts.ParseTupleOrExpression());
        LF_RETURN_IF_ERROR(ts.ExpectEnd());
        return node;
      }
      if (ts.IsOp("|")) return ts.Error("filters on {% set %} blocks are not supported");
      LF_RETURN_IF_ERROR(ts.ExpectEnd());
      if (node.targets.size() != 1 || !node.attribute.empty()) {
        return ts.Error("a {% set %} block assigns a single name");
      }
      node.kind = Node::Kind::kSetBlock;
      LF_ASSIGN_OR_RETURN(Body body, ParseBody({"endset"}, "set", line));
      LF_RETURN_IF_ERROR(StreamAfterKeyword(body.end_segment).ExpectEnd());
      node.bodies.push_back(std::move(body.nodes));
      return node;
    }
    if (keyword == "generation") {
      node.kind = Node::Kind::kGeneration;
      LF_RETURN_IF_ERROR(ts.ExpectEnd());
      has_generation_ = true;
      LF_ASSIGN_OR_RETURN(Body body, ParseBody({"endgeneration"}, "generation", line));
      LF_RETURN_IF_ERROR(StreamAfterKeyword(body.end_segment).ExpectEnd());
      node.bodies.push_back(std::move(body.nodes));
      return node;
    }
    if (keyword == "break" || keyword == "continue") {
      if (loop_depth_ == 0) return ts.Error("{% " + keyword + " %} outside a for loop");
      LF_RETURN_IF_ERROR(ts.ExpectEnd());
      node.kind = keyword == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
      return node;
    }
    static const char* const kClosers[] = {"elif",   "else",   "endif",
                                           "endfor", "endset", "endgeneration"};
    for (const char* closer : kClosers) {
      if (keyword == closer) return TemplateError(name_, line, "unexpected {% " + keyword + " %}");
    }
    return TemplateError(name_, line, "statement \"" + keyword + "\" is not supported");
  }

  std::vector<Segment> segments_;
  const std::string& name_;
  size_t index_ = 0;
  size_t depth_ = 0;
  int loop_depth_ = 0;
  bool has_generation_ = false;
};

}  // namespace

Result<std::shared_ptr<const Program>> ParseProgram(std::string_view source, std::string name) {
  LF_ASSIGN_OR_RETURN(std::vector<Segment> segments, Lex(source, name));
  auto program = std::make_shared<Program>();
  program->name = std::move(name);
  StatementParser parser(std::move(segments), program->name);
  LF_ASSIGN_OR_RETURN(program->body, parser.ParseTemplate());
  program->has_generation = parser.has_generation();
  return std::shared_ptr<const Program>(std::move(program));
}

}  // namespace lf::worker::jinja
