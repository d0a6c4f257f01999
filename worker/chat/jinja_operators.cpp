// Python's binary operators on template values: arithmetic (ints stay exact, / is true
// division, // and % floor), + and * on strings and lists, ~, comparisons and membership.
#include <algorithm>
#include <cmath>

#include "worker/chat/jinja_ast.h"
#include "worker/chat/jinja_builtins.h"

namespace lf::worker::jinja {

Result<Value> ApplyOperator(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return Value(a.Equals(b));
  if (op == "!=") return Value(!a.Equals(b));
  if (op == "~") {
    std::string s = a.Str() + b.Str();
    if (s.size() > kMaxOutputBytes) return InvalidArgument("string longer than the output limit");
    return Value(std::move(s));
  }
  if (op == "in" || op == "not in") {
    bool found = false;
    if (b.is_string()) {
      if (!a.is_string())
        return InvalidArgument("'in <string>' requires a string, got " + a.TypeName());
      found = b.as_string().find(a.as_string()) != std::string::npos;
    } else if (b.is_dict()) {
      found = a.is_string() && b.Find(a.as_string()) != nullptr;
    } else if (b.is_list() || b.is_undefined()) {
      LF_ASSIGN_OR_RETURN(ValueList items, Iterate(b));
      for (const auto& item : items) found = found || item.Equals(a);
    } else {
      return InvalidArgument("'in' needs a string, list or dict on its right, got " + b.TypeName());
    }
    return Value(found != (op == "not in"));
  }
  if (a.is_undefined() || b.is_undefined()) {
    const Value& undefined = a.is_undefined() ? a : b;
    return InvalidArgument("operator " + op + " on an undefined value (" +
                           undefined.as_undefined().hint + ")");
  }
  if (op == "<" || op == ">" || op == "<=" || op == ">=") {
    bool swap = op == ">" || op == "<=";
    LF_ASSIGN_OR_RETURN(bool less, swap ? LessThan(b, a) : LessThan(a, b));
    return Value(op == "<=" || op == ">=" ? !less : less);
  }
  auto unsupported = [&] {
    return InvalidArgument("unsupported operands for " + op + ": " + a.TypeName() + " and " +
                           b.TypeName());
  };
  if (op == "+" && a.is_string() && b.is_string()) {
    if (a.as_string().size() + b.as_string().size() > kMaxOutputBytes) {
      return InvalidArgument("string longer than the output limit");
    }
    return Value(a.as_string() + b.as_string());
  }
  if (op == "+" && a.is_list() && b.is_list()) {
    ValueList items = a.as_list();
    items.insert(items.end(), b.as_list().begin(), b.as_list().end());
    if (items.size() > kMaxListItems) return InvalidArgument("list longer than the item limit");
    return Value(std::move(items));
  }
  if (op == "*" && (a.is_string() || a.is_list() || b.is_string() || b.is_list())) {
    const Value& seq = a.is_string() || a.is_list() ? a : b;
    const Value& count = &seq == &a ? b : a;
    if (!count.is_int() && !count.is_bool()) return unsupported();
    int64_t n = std::max<int64_t>(count.as_int(), 0);
    size_t unit = seq.is_string() ? seq.as_string().size() : seq.as_list().size();
    size_t limit = seq.is_string() ? kMaxOutputBytes : kMaxListItems;
    if (unit > 0 && uint64_t(n) > limit / unit)
      return InvalidArgument("repetition beyond the size limit");
    if (seq.is_string()) {
      std::string out;
      for (int64_t i = 0; i < n; ++i) out += seq.as_string();
      return Value(std::move(out));
    }
    ValueList out;
    for (int64_t i = 0; i < n; ++i)
      out.insert(out.end(), seq.as_list().begin(), seq.as_list().end());
    return Value(std::move(out));
  }
  if (!a.is_number() || !b.is_number()) {
    if (op == "%" && a.is_string())
      return InvalidArgument("string formatting with % is not supported");
    return unsupported();
  }
  bool floats = a.is_float() || b.is_float();
  if (op == "/") {
    if (b.as_float() == 0) return InvalidArgument("division by zero");
    return Value(a.as_float() / b.as_float());
  }
  if (op == "**") {
    if (!floats && b.as_int() >= 0) {
      double r = std::pow(double(a.as_int()), double(b.as_int()));
      if (std::fabs(r) > 9e18) return InvalidArgument("integer power beyond 64 bits");
      int64_t out = 1;
      for (int64_t i = 0; i < b.as_int(); ++i) out *= a.as_int();
      return Value(out);
    }
    return Value(std::pow(a.as_float(), b.as_float()));
  }
  if (floats) {
    double x = a.as_float(), y = b.as_float();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (y == 0) return InvalidArgument("division by zero");
    if (op == "//") return Value(std::floor(x / y));
    if (op == "%") return Value(x - std::floor(x / y) * y);
    return unsupported();
  }
  int64_t x = a.as_int(), y = b.as_int();
  int64_t r = 0;
  if (op == "+" && !__builtin_add_overflow(x, y, &r)) return Value(r);
  if (op == "-" && !__builtin_sub_overflow(x, y, &r)) return Value(r);
  if (op == "*" && !__builtin_mul_overflow(x, y, &r)) return Value(r);
  if (op == "+" || op == "-" || op == "*") return InvalidArgument("integer overflow in " + op);
  if (y == 0) return InvalidArgument("division by zero");
  int64_t q = x / y;
  if ((x % y != 0) && ((x < 0) != (y < 0))) --q;  // Python floors
  if (op == "//") return Value(q);
  if (op == "%") return Value(x - q * y);
  return unsupported();
}

}  // namespace lf::worker::jinja
