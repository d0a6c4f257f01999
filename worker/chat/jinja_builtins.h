// The filters, tests, methods (str, dict) and globals the engine knows, by name. Errors carry no
// line: the renderer adds "<template> line N:". Internal to lf_chat.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "worker/chat/jinja_value.h"

namespace lf::worker::jinja {

struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;

  // The argument at `index`, or the keyword `name`, or `fallback`.
  const Value& Get(size_t index, std::string_view name, const Value& fallback) const;
  // Refuses arguments beyond `max_positional` and keywords not in `names`.
  Status Check(std::string_view what, size_t max_positional,
               std::initializer_list<std::string_view> names) const;
};

bool IsKnownFilter(std::string_view name);
bool IsKnownTest(std::string_view name);
// A name the template can call or test for being defined (range, namespace, raise_exception...).
bool IsGlobal(std::string_view name);

Result<Value> ApplyFilter(const std::string& name, const Value& value, const CallArgs& args);
Result<bool> ApplyTest(const std::string& name, const Value& value, const CallArgs& args);
// `object.method(args)` for str, dict and list methods; NotFound when there is no such method.
Result<Value> CallMethod(const Value& object, const std::string& method, const CallArgs& args);
Result<Value> CallGlobal(const std::string& name, const CallArgs& args);
// a <op> b for the binary operators (jinja_operators.cpp); "and"/"or" are evaluated lazily
// elsewhere.
Result<Value> ApplyOperator(const std::string& op, const Value& a, const Value& b);

// Attribute access as jinja2's sandbox does it for data: dict keys and namespace attributes.
Value GetAttribute(const Value& object, const std::string& name);
// object[key] for lists, strings (by code point) and dicts; Undefined when absent.
Result<Value> GetItem(const Value& object, const Value& key);
Result<Value> Slice(const Value& object, const Value& start, const Value& stop, const Value& step);

// Python's str operations on UTF-8 text (jinja_strings.cpp, PyStrip in jinja_builtins.cpp).
std::string PyStrip(std::string_view s, const Value& chars, bool left, bool right);
std::string PyUpper(std::string_view s);
std::string PyLower(std::string_view s);
std::string Capitalize(std::string_view s);
std::string PyTitle(std::string_view s);     // str.title()
std::string JinjaTitle(std::string_view s);  // the title filter
Result<std::string> PyReplace(const std::string& s, const std::string& old, const std::string& with,
                              int64_t count);
Result<ValueList> PySplit(const std::string& s, const Value& sep, int64_t maxsplit);
// ResourceExhausted when a built string would pass kMaxOutputBytes.
Status CheckStringSize(size_t size);
Result<int64_t> IntArg(const Value& v, const char* what);
std::vector<std::string> Utf8Chars(std::string_view s);
// Python's iteration: list items, dict keys, string characters; Undefined is empty.
Result<ValueList> Iterate(const Value& value);

}  // namespace lf::worker::jinja
