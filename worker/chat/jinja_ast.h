// The parsed form of a template: the lexer's tokens, expression trees and statement nodes, and
// the Program that owns them. Built once by jinja_parser.cpp, then only read by the renderer.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "worker/chat/jinja_value.h"

namespace lf::worker::jinja {

// Limits that keep a hostile template from exhausting the process.
inline constexpr size_t kMaxNesting = 100;            // parse depth of expressions and blocks
inline constexpr size_t kMaxOutputBytes = 16u << 20;  // rendered text and any built string
inline constexpr size_t kMaxSteps = 2'000'000;        // evaluated nodes and loop iterations
inline constexpr size_t kMaxListItems = 1'000'000;    // range() and list building
inline constexpr size_t kMaxValueDepth = 100;         // what a namespace attribute may hold

struct Token {
  enum class Kind { kName, kString, kInt, kFloat, kOp, kEnd };
  Kind kind = Kind::kEnd;
  std::string text;  // the name, the unescaped string, the number's digits or the operator
  int line = 1;
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,    // literal
    kName,       // name
    kList,       // args: items
    kTuple,      // args: items
    kDict,       // kwargs: key expression text unused; args: key0, value0, key1, value1...
    kGetAttr,    // args[0].name
    kGetItem,    // args[0][args[1]]
    kSlice,      // args[0][args[1]:args[2]:args[3]], each bound may be null
    kUnary,      // name: "-", "+" or "not"; args[0]
    kBinary,     // name: operator; args[0], args[1]
    kAnd,        // args[0] and args[1]
    kOr,         // args[0] or args[1]
    kCondition,  // args[0] if args[1] else args[2] (args[2] may be null)
    kFilter,     // name: filter; args[0]: the value; args[1..]: arguments; kwargs
    kTest,       // name: test; negated; args[0]: the value; args[1..]: arguments
    kCall,       // args[0]: the callee; args[1..]: arguments; kwargs
  };
  Kind kind = Kind::kLiteral;
  int line = 1;
  std::string name;
  bool negated = false;
  Value literal;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Node;
using NodeList = std::vector<Node>;

struct Node {
  enum class Kind {
    kText,        // text
    kOutput,      // {{ expr }}
    kIf,          // conditions[i] guards bodies[i]; else_body
    kFor,         // for targets in expr [if condition]: bodies[0]; else_body
    kSet,         // set targets = expr, or set targets[0].attribute = expr (namespace)
    kSetBlock,    // {% set targets[0] %}bodies[0]{% endset %}
    kGeneration,  // {% generation %}bodies[0]{% endgeneration %}
    kBreak,
    kContinue,
  };
  Kind kind = Kind::kText;
  int line = 1;
  std::string text;
  ExprPtr expr;
  std::vector<std::string> targets;
  std::string attribute;  // kSet on a namespace: "ns.attribute"
  std::vector<ExprPtr> conditions;
  std::vector<NodeList> bodies;
  NodeList else_body;
  ExprPtr condition;  // kFor's filter
};

struct Program {
  std::string name;
  NodeList body;
  bool has_generation = false;
};

// "<name> line <line>: <message>" as an InvalidArgument.
Status TemplateError(const std::string& name, int line, const std::string& message);

// Splits the source into text and tags with transformers' whitespace rules (trim_blocks,
// lstrip_blocks, "-" and "+" modifiers, one trailing newline dropped) and parses it.
Result<std::shared_ptr<const Program>> ParseProgram(std::string_view source, std::string name);

}  // namespace lf::worker::jinja
