// Template::Render: walks the statement nodes, evaluates expressions with Python's operators and
// jinja2's scoping (a for loop opens a scope; if and set do not), and records the byte spans of
// {% generation %} blocks. Every node counts against kMaxSteps and the output against
// kMaxOutputBytes, so a hostile template stops with an error instead of hanging.
#include <cmath>
#include <unordered_map>

#include "worker/chat/jinja.h"
#include "worker/chat/jinja_ast.h"
#include "worker/chat/jinja_builtins.h"

namespace lf::worker::jinja {
namespace {

enum class Flow { kNormal, kBreak, kContinue };

class Renderer {
 public:
  Renderer(const Program& program, const Json& context) : program_(program) {
    for (auto it = context.begin(); it != context.end(); ++it) {
      context_.emplace(it.key(), Value::FromJson(*it));
    }
    scopes_.emplace_back();
  }

  // A namespace may hold itself (ns.me = ns); emptying them all breaks such cycles, which
  // reference counting would otherwise never free.
  ~Renderer() {
    for (const auto& ns : namespaces_) ns->attrs.clear();
  }

  Result<Template::Output> Run() {
    LF_RETURN_IF_ERROR(Exec(program_.body));
    return std::move(output_);
  }

 private:
  using Scope = std::unordered_map<std::string, Value>;

  Status Error(int line, const std::string& message) const {
    return TemplateError(program_.name, line, message);
  }
  Status AtLine(int line, const Status& status) const {
    if (status.ok() || status.message().rfind(program_.name + " line ", 0) == 0) return status;
    return Status(status.code(),
                  program_.name + " line " + std::to_string(line) + ": " + status.message());
  }
  Status Step(int line) {
    if (++steps_ > kMaxSteps) {
      return Error(line, "the template took more than " + std::to_string(kMaxSteps) +
                             " steps; is it looping without end?");
    }
    return Status::Ok();
  }
  Status Write(const std::string& text, int line) {
    if (out_->size() + text.size() > kMaxOutputBytes) {
      return Error(line, "the output would exceed " + std::to_string(kMaxOutputBytes) + " bytes");
    }
    *out_ += text;
    return Status::Ok();
  }

  Value Lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = it->find(name);
      if (found != it->end()) return found->second;
    }
    auto found = context_.find(name);
    if (found != context_.end()) return found->second;
    if (IsGlobal(name)) return Value(Builtin{name});
    return Value::MakeUndefined("'" + name + "' is undefined");
  }

  Result<Flow> Exec(const NodeList& nodes) {
    for (const Node& node : nodes) {
      LF_RETURN_IF_ERROR(Step(node.line));
      LF_ASSIGN_OR_RETURN(Flow flow, ExecNode(node));
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Result<Flow> ExecNode(const Node& node) {
    switch (node.kind) {
      case Node::Kind::kText:
        LF_RETURN_IF_ERROR(Write(node.text, node.line));
        return Flow::kNormal;
      case Node::Kind::kOutput: {
        LF_ASSIGN_OR_RETURN(Value value, Eval(*node.expr));
        LF_RETURN_IF_ERROR(Write(value.Str(), node.line));
        return Flow::kNormal;
      }
      case Node::Kind::kIf:
        for (size_t i = 0; i < node.conditions.size(); ++i) {
          LF_ASSIGN_OR_RETURN(Value condition, Eval(*node.conditions[i]));
          if (condition.Truthy()) return Exec(node.bodies[i]);
        }
        return Exec(node.else_body);
      case Node::Kind::kFor:
        return ExecFor(node);
      case Node::Kind::kSet:
        return ExecSet(node);
      case Node::Kind::kSetBlock: {
        std::string captured;
        std::string* saved = out_;
        out_ = &captured;
        ++capturing_;
        auto flow = Exec(node.bodies[0]);
        --capturing_;
        out_ = saved;
        LF_RETURN_IF_ERROR(flow.status());
        scopes_.back()[node.targets[0]] = Value(std::move(captured));
        return *flow;
      }
      case Node::Kind::kGeneration: {
        if (capturing_ > 0) {
          return Error(node.line, "{% generation %} inside a {% set %} block is not supported");
        }
        size_t begin = out_->size();
        LF_ASSIGN_OR_RETURN(Flow flow, Exec(node.bodies[0]));
        output_.generation_spans.emplace_back(begin, out_->size());
        return flow;
      }
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
    }
    return Error(node.line, "unknown statement");
  }

  Status Bind(const std::vector<std::string>& targets, const Value& value, Scope& scope, int line) {
    if (targets.size() == 1) {
      scope[targets[0]] = value;
      return Status::Ok();
    }
    if (!value.is_list() || value.as_list().size() != targets.size()) {
      return Error(line, "cannot unpack " + value.TypeName() + " into " +
                             std::to_string(targets.size()) + " names");
    }
    for (size_t i = 0; i < targets.size(); ++i) scope[targets[i]] = value.as_list()[i];
    return Status::Ok();
  }

  Result<Flow> ExecSet(const Node& node) {
    LF_ASSIGN_OR_RETURN(Value value, Eval(*node.expr));
    if (node.attribute.empty()) {
      LF_RETURN_IF_ERROR(Bind(node.targets, value, scopes_.back(), node.line));
      return Flow::kNormal;
    }
    Value target = Lookup(node.targets[0]);
    if (!target.is_namespace()) {
      return Error(node.line, "cannot assign attribute on " + target.TypeName() + " \"" +
                                  node.targets[0] + "\" (only namespace() objects)");
    }
    // A namespace outlives loop iterations, so only through it can a template build values
    // ever deeper (ns.x = [ns.x] in a loop), which would overflow the stack when printed or freed.
    if (NestingDepth(value, kMaxValueDepth) > kMaxValueDepth) {
      return Error(node.line, "the value assigned to " + node.targets[0] + "." + node.attribute +
                                  " nests lists, dicts or namespaces deeper than " +
                                  std::to_string(kMaxValueDepth) + " levels");
    }
    if (node.attribute[0] == '_') {
      return Error(node.line, "namespace attributes cannot start with '_': " + node.attribute);
    }
    ValueDict& attrs = target.as_namespace()->attrs;
    for (auto& [key, existing] : attrs) {
      if (key == node.attribute) {
        existing = std::move(value);
        return Flow::kNormal;
      }
    }
    attrs.emplace_back(node.attribute, std::move(value));
    return Flow::kNormal;
  }

  Result<Flow> ExecFor(const Node& node) {
    LF_ASSIGN_OR_RETURN(Value iterable, Eval(*node.expr));
    if (iterable.is_dict() && node.targets.size() > 1) {
      return Error(node.line, "iterating a dict yields its keys; use .items() to unpack pairs");
    }
    auto listed = Iterate(iterable);
    if (!listed.ok()) return AtLine(node.line, listed.status());
    ValueList items = *std::move(listed);
    if (node.condition) {
      ValueList kept;
      for (const Value& item : items) {
        scopes_.emplace_back();
        Status bound = Bind(node.targets, item, scopes_.back(), node.line);
        auto keep = bound.ok() ? Eval(*node.condition) : Result<Value>(bound);
        scopes_.pop_back();
        LF_RETURN_IF_ERROR(keep.status());
        if (keep->Truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) return Exec(node.else_body);
    scopes_.emplace_back();
    const int64_t n = int64_t(items.size());
    Flow result = Flow::kNormal;
    for (int64_t i = 0; i < n; ++i) {
      if (auto st = Step(node.line); !st.ok()) {
        scopes_.pop_back();
        return st;
      }
      Scope& scope = scopes_.back();
      scope.clear();  // jinja2: what the body sets lasts one iteration
      Status bound = Bind(node.targets, items[size_t(i)], scope, node.line);
      if (!bound.ok()) {
        scopes_.pop_back();
        return bound;
      }
      ValueDict loop = {
          {"index", Value(i + 1)},
          {"index0", Value(i)},
          {"revindex", Value(n - i)},
          {"revindex0", Value(n - i - 1)},
          {"first", Value(i == 0)},
          {"last", Value(i == n - 1)},
          {"length", Value(n)},
          {"depth", Value(1)},
          {"depth0", Value(0)},
          {"previtem", i > 0 ? items[size_t(i - 1)] : Value::MakeUndefined("no previous item")},
          {"nextitem", i + 1 < n ? items[size_t(i + 1)] : Value::MakeUndefined("no next item")},
      };
      scope["loop"] = Value(std::move(loop));
      auto flow = Exec(node.bodies[0]);
      if (!flow.ok()) {
        scopes_.pop_back();
        return flow.status();
      }
      if (*flow == Flow::kBreak) break;
    }
    scopes_.pop_back();
    return result;
  }

  Result<CallArgs> EvalArgs(const Expr& call, size_t first) {
    CallArgs args;
    for (size_t i = first; i < call.args.size(); ++i) {
      LF_ASSIGN_OR_RETURN(Value v, Eval(*call.args[i]));
      args.args.push_back(std::move(v));
    }
    for (const auto& [key, expr] : call.kwargs) {
      LF_ASSIGN_OR_RETURN(Value v, Eval(*expr));
      args.kwargs.emplace_back(key, std::move(v));
    }
    return args;
  }

  Result<Value> Eval(const Expr& e) {
    LF_RETURN_IF_ERROR(Step(e.line));
    auto result = EvalInner(e);
    if (!result.ok()) return AtLine(e.line, result.status());
    return result;
  }

  Status Undefined(const Expr& e, const Value& v, const std::string& what) const {
    return Error(e.line, what + " of an undefined value (" + v.as_undefined().hint + ")");
  }

  Result<Value> EvalInner(const Expr& e);
  Result<Value> EvalCall(const Expr& e);

  const Program& program_;
  std::unordered_map<std::string, Value> context_;
  std::vector<Scope> scopes_;
  Template::Output output_;
  std::string* out_ = &output_.text;
  std::vector<std::shared_ptr<Namespace>> namespaces_;  // every namespace() this render made
  int capturing_ = 0;
  size_t steps_ = 0;
};

Result<Value> Renderer::EvalInner(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kLiteral:
      return e.literal;
    case Expr::Kind::kName:
      return Lookup(e.name);
    case Expr::Kind::kList:
    case Expr::Kind::kTuple: {
      ValueList items;
      for (const auto& arg : e.args) {
        LF_ASSIGN_OR_RETURN(Value v, Eval(*arg));
        items.push_back(std::move(v));
      }
      if (e.kind == Expr::Kind::kTuple) return Value::MakeTuple(std::move(items));
      return Value(std::move(items));
    }
    case Expr::Kind::kDict: {
      ValueDict dict;
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        LF_ASSIGN_OR_RETURN(Value key, Eval(*e.args[i]));
        LF_ASSIGN_OR_RETURN(Value value, Eval(*e.args[i + 1]));
        if (!key.is_string())
          return Error(e.line, "dict keys must be strings, got " + key.TypeName());
        auto it = std::find_if(dict.begin(), dict.end(),
                               [&](const auto& p) { return p.first == key.as_string(); });
        if (it != dict.end()) {
          it->second = std::move(value);
        } else {
          dict.emplace_back(key.as_string(), std::move(value));
        }
      }
      return Value(std::move(dict));
    }
    case Expr::Kind::kGetAttr: {
      LF_ASSIGN_OR_RETURN(Value object, Eval(*e.args[0]));
      if (object.is_undefined()) return Undefined(e, object, "attribute '" + e.name + "'");
      return GetAttribute(object, e.name);
    }
    case Expr::Kind::kGetItem: {
      LF_ASSIGN_OR_RETURN(Value object, Eval(*e.args[0]));
      LF_ASSIGN_OR_RETURN(Value key, Eval(*e.args[1]));
      if (object.is_undefined()) return Undefined(e, object, "item " + key.Repr());
      return GetItem(object, key);
    }
    case Expr::Kind::kSlice: {
      LF_ASSIGN_OR_RETURN(Value object, Eval(*e.args[0]));
      Value bounds[3] = {NoneValue{}, NoneValue{}, NoneValue{}};
      for (int i = 0; i < 3; ++i) {
        if (e.args[size_t(i) + 1]) {
          LF_ASSIGN_OR_RETURN(bounds[i], Eval(*e.args[size_t(i) + 1]));
        }
      }
      if (object.is_undefined()) return Undefined(e, object, "a slice");
      return Slice(object, bounds[0], bounds[1], bounds[2]);
    }
    case Expr::Kind::kUnary: {
      LF_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
      if (e.name == "not") return Value(!v.Truthy());
      if (v.is_int() || v.is_bool()) return e.name == "-" ? Value(-v.as_int()) : Value(v.as_int());
      if (v.is_float()) return e.name == "-" ? Value(-v.as_float()) : v;
      return Error(e.line, "bad operand for unary " + e.name + ": " + v.TypeName());
    }
    case Expr::Kind::kAnd:
    case Expr::Kind::kOr: {
      LF_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0]));
      if (a.Truthy() == (e.kind == Expr::Kind::kOr)) return a;
      return Eval(*e.args[1]);
    }
    case Expr::Kind::kCondition: {
      LF_ASSIGN_OR_RETURN(Value condition, Eval(*e.args[1]));
      if (condition.Truthy()) return Eval(*e.args[0]);
      if (e.args[2]) return Eval(*e.args[2]);
      return Value::MakeUndefined("the inline if's condition was false and it has no else");
    }
    case Expr::Kind::kBinary: {
      LF_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0]));
      LF_ASSIGN_OR_RETURN(Value b, Eval(*e.args[1]));
      return ApplyOperator(e.name, a, b);
    }
    case Expr::Kind::kFilter: {
      LF_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
      LF_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
      auto result = ApplyFilter(e.name, v, args);
      if (!result.ok()) return Error(e.line, "filter " + e.name + ": " + result.status().message());
      return result;
    }
    case Expr::Kind::kTest: {
      LF_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
      LF_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
      LF_ASSIGN_OR_RETURN(bool passed, ApplyTest(e.name, v, args));
      return Value(passed != e.negated);
    }
    case Expr::Kind::kCall:
      return EvalCall(e);
  }
  return Error(e.line, "unknown expression");
}

Result<Value> Renderer::EvalCall(const Expr& e) {
  const Expr& callee = *e.args[0];
  if (callee.kind == Expr::Kind::kGetAttr) {
    LF_ASSIGN_OR_RETURN(Value object, Eval(*callee.args[0]));
    if (object.is_undefined()) return Undefined(e, object, "method " + callee.name + "()");
    LF_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
    auto result = CallMethod(object, callee.name, args);
    if (result.ok() || result.status().code() != StatusCode::kNotFound) return result;
    return Error(e.line, result.status().message() + " (or it is not supported)");
  }
  LF_ASSIGN_OR_RETURN(Value function, Eval(callee));
  if (function.is_undefined()) return Undefined(e, function, "a call");
  if (!function.is_builtin()) return Error(e.line, function.TypeName() + " is not callable");
  LF_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
  LF_ASSIGN_OR_RETURN(Value result, CallGlobal(function.as_builtin().name, args));
  if (result.is_namespace()) namespaces_.push_back(result.as_namespace());
  return result;
}

}  // namespace

// The engine reports errors as Status; an exception from the standard library (allocation, a
// bug) is caught here so that no template can take the process down.
Result<Template> Template::Parse(std::string_view source, std::string name) {
  try {
    LF_ASSIGN_OR_RETURN(auto program, ParseProgram(source, name));
    return Template(std::move(program));
  } catch (const std::exception& e) {
    return Internal(name + ": parsing the template failed: " + e.what());
  }
}

Result<Template::Output> Template::Render(const Json& context) const {
  if (!context.is_object()) {
    return InvalidArgument(program_->name + ": the render context must be a JSON object");
  }
  try {
    return Renderer(*program_, context).Run();
  } catch (const std::exception& e) {
    return Internal(program_->name + ": rendering the template failed: " + e.what());
  }
}

const std::string& Template::name() const { return program_->name; }
bool Template::has_generation() const { return program_->has_generation; }

}  // namespace lf::worker::jinja
