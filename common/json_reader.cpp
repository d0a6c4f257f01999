#include "common/json_reader.h"

#include <algorithm>
#include <cmath>

namespace lf {
namespace {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// Shortest form that reads back as the same double; integral values without ".0".
std::string FormatNumber(double v) {
  if (std::isfinite(v) && std::trunc(v) == v && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<int64_t>(v));
  }
  Json j = v;
  return j.dump();
}

}  // namespace

FieldPath FieldPath::Key(std::string_view key) const {
  if (path_.empty()) return FieldPath(std::string(key));
  return FieldPath(path_ + "." + std::string(key));
}

FieldPath FieldPath::Index(size_t index) const {
  return FieldPath(path_ + "[" + std::to_string(index) + "]");
}

std::string DescribeJsonValue(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "a list";
    case Json::value_t::string: {
      std::string s = value.get<std::string>();
      if (s.size() > 60) {
        // Cut before a character, not inside one: a cut sequence is invalid UTF-8, which dump()
        // throws on.
        size_t cut = 57;
        while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
        s = s.substr(0, cut) + "...";
      }
      // Values built in code may hold any bytes; a message shows them replaced, never throws.
      return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
    }
    default: return value.dump();
  }
}

namespace {

// Thrown by the parser callback to stop at the first level past kMaxJsonDepth.
struct TooDeep {};

}  // namespace

Result<Json> ParseJson(std::string_view text, std::string_view source) {
  try {
    return Json::parse(text, [](int depth, Json::parse_event_t event, Json&) {
      if (depth >= kMaxJsonDepth && (event == Json::parse_event_t::object_start ||
                                     event == Json::parse_event_t::array_start)) {
        throw TooDeep{};
      }
      return true;
    });
  } catch (const TooDeep&) {
    return InvalidArgument(std::string(source) + ": objects and arrays nested deeper than " +
                           std::to_string(kMaxJsonDepth) + " levels");
  } catch (const Json::parse_error& e) {
    return InvalidArgument(std::string(source) + ": invalid JSON at byte " +
                           std::to_string(e.byte) + ": " + e.what());
  } catch (const Json::exception& e) {  // e.g. out_of_range.406: a number beyond double's range
    return InvalidArgument(std::string(source) + ": invalid JSON: " + e.what());
  }
}

Status FieldError(std::string_view field, std::string_view what) {
  return InvalidArgument(std::string(field) + ": " + std::string(what)).WithField(std::string(field));
}

Status JsonField::Error(std::string_view what) const {
  if (path_.empty()) return InvalidArgument("(document): " + std::string(what));
  return FieldError(path_.str(), what);
}

bool JsonField::Has(std::string_view key) const {
  return node_->is_object() && node_->contains(key);
}

Result<JsonField> JsonField::Required(std::string_view key) const {
  if (!node_->is_object()) {
    return Error("expected an object with the key '" + std::string(key) + "', got " +
                 DescribeJsonValue(*node_));
  }
  auto it = node_->find(key);
  if (it == node_->end()) {
    return JsonField(*node_, path_.Key(key)).Error("required field is missing");
  }
  return JsonField(*it, path_.Key(key));
}

std::optional<JsonField> JsonField::Optional(std::string_view key) const {
  if (!node_->is_object()) return std::nullopt;
  auto it = node_->find(key);
  if (it == node_->end() || it->is_null()) return std::nullopt;
  return JsonField(*it, path_.Key(key));
}

Result<std::vector<JsonField>> JsonField::Elements() const {
  if (!node_->is_array()) return Error("expected a list, got " + DescribeJsonValue(*node_));
  std::vector<JsonField> out;
  out.reserve(node_->size());
  for (size_t i = 0; i < node_->size(); ++i) out.emplace_back((*node_)[i], path_.Index(i));
  return out;
}

Result<std::vector<std::pair<std::string, JsonField>>> JsonField::Members() const {
  if (!node_->is_object()) return Error("expected an object, got " + DescribeJsonValue(*node_));
  std::vector<std::pair<std::string, JsonField>> out;
  for (auto it = node_->begin(); it != node_->end(); ++it) {
    out.emplace_back(it.key(), JsonField(it.value(), path_.Key(it.key())));
  }
  return out;
}

Status JsonField::CheckKeys(std::initializer_list<std::string_view> known) const {
  return CheckKeys(std::vector<std::string>(known.begin(), known.end()));
}

Status JsonField::CheckKeys(const std::vector<std::string>& known) const {
  if (!node_->is_object()) return Error("expected an object, got " + DescribeJsonValue(*node_));
  for (auto it = node_->begin(); it != node_->end(); ++it) {
    const std::string& key = it.key();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string message = "unknown key; expected one of: ";
    std::string best;
    size_t best_distance = std::max<size_t>(2, key.size() / 2) + 1;
    for (size_t i = 0; i < known.size(); ++i) {
      message += (i ? ", " : "") + known[i];
      size_t d = EditDistance(key, known[i]);
      if (d < best_distance) {
        best_distance = d;
        best = known[i];
      }
    }
    if (!best.empty()) message += " (did you mean '" + best + "'?)";
    return JsonField(it.value(), path_.Key(key)).Error(message);
  }
  return Status::Ok();
}

Result<std::string> JsonField::String() const {
  if (!node_->is_string()) return Error("expected a string, got " + DescribeJsonValue(*node_));
  return node_->get<std::string>();
}

Result<std::string> JsonField::NonEmptyString() const {
  LF_ASSIGN_OR_RETURN(std::string s, String());
  if (s.empty()) return Error("must not be empty");
  return s;
}

Result<int64_t> JsonField::Int(IntBounds bounds) const {
  std::string expected = "an integer";
  if (bounds.min == 1 && bounds.max == std::numeric_limits<int64_t>::max()) {
    expected = "a positive integer";
  } else if (bounds.min == 0 && bounds.max == std::numeric_limits<int64_t>::max()) {
    expected = "a non-negative integer";
  } else if (bounds.max != std::numeric_limits<int64_t>::max()) {
    expected = "an integer from " + std::to_string(bounds.min) + " to " + std::to_string(bounds.max);
  } else if (bounds.min != std::numeric_limits<int64_t>::min()) {
    expected = "an integer of at least " + std::to_string(bounds.min);
  }
  const std::string got = ", got " + DescribeJsonValue(*node_);
  int64_t value = 0;
  if (node_->is_number_integer() && !node_->is_number_unsigned()) {
    value = node_->get<int64_t>();
  } else if (node_->is_number_unsigned()) {
    uint64_t u = node_->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Error("expected " + expected + got);
    }
    value = static_cast<int64_t>(u);
  } else if (node_->is_number_float()) {
    double d = node_->get<double>();
    // 8.0 is accepted as 8 (YAML and JSON writers sometimes print integers that way); 8.5 is not.
    if (!std::isfinite(d) || std::trunc(d) != d || std::fabs(d) > 9.007199254740992e15) {
      return Error("expected " + expected + got);
    }
    value = static_cast<int64_t>(d);
  } else {
    return Error("expected " + expected + got);
  }
  if (value < bounds.min || value > bounds.max) return Error("expected " + expected + got);
  return value;
}

Result<double> JsonField::Number(NumberBounds bounds) const {
  if (!node_->is_number()) return Error("expected a number, got " + DescribeJsonValue(*node_));
  double value = node_->get<double>();
  if (!std::isfinite(value)) return Error("expected a finite number, got " + FormatNumber(value));
  bool too_small = bounds.exclusive_min ? value <= bounds.min : value < bounds.min;
  if (too_small || value > bounds.max) {
    std::string expected;
    if (bounds.exclusive_min && bounds.min == 0 && std::isinf(bounds.max)) {
      expected = "a positive number";
    } else {
      expected = std::string("a number ") + (bounds.exclusive_min ? "> " : ">= ") +
                 FormatNumber(bounds.min);
      if (!std::isinf(bounds.max)) expected += " and <= " + FormatNumber(bounds.max);
    }
    return Error("expected " + expected + ", got " + FormatNumber(value));
  }
  return value;
}

Result<bool> JsonField::Bool() const {
  if (!node_->is_boolean()) {
    return Error("expected true or false, got " + DescribeJsonValue(*node_));
  }
  return node_->get<bool>();
}

Result<std::vector<std::string>> JsonField::StringList() const {
  LF_ASSIGN_OR_RETURN(std::vector<JsonField> elements, Elements());
  std::vector<std::string> out;
  out.reserve(elements.size());
  for (const JsonField& e : elements) {
    LF_ASSIGN_OR_RETURN(std::string s, e.String());
    out.push_back(std::move(s));
  }
  return out;
}

Result<int64_t> JsonField::IntAt(std::string_view key, IntBounds bounds) const {
  LF_ASSIGN_OR_RETURN(JsonField f, Required(key));
  return f.Int(bounds);
}

Result<std::string> JsonField::StringAt(std::string_view key) const {
  LF_ASSIGN_OR_RETURN(JsonField f, Required(key));
  return f.String();
}

Result<int64_t> JsonField::IntOr(std::string_view key, int64_t fallback, IntBounds bounds) const {
  std::optional<JsonField> f = Optional(key);
  return f ? f->Int(bounds) : Result<int64_t>(fallback);
}

Result<double> JsonField::NumberOr(std::string_view key, double fallback,
                                   NumberBounds bounds) const {
  std::optional<JsonField> f = Optional(key);
  return f ? f->Number(bounds) : Result<double>(fallback);
}

Result<bool> JsonField::BoolOr(std::string_view key, bool fallback) const {
  std::optional<JsonField> f = Optional(key);
  return f ? f->Bool() : Result<bool>(fallback);
}

Result<std::string> JsonField::StringOr(std::string_view key, std::string fallback) const {
  std::optional<JsonField> f = Optional(key);
  return f ? f->String() : Result<std::string>(std::move(fallback));
}

}  // namespace lf
