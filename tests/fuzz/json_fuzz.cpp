// Fuzz target: common/json_reader (ParseJson and the JsonField readers every document goes
// through). Invariants: ParseJson never throws; a document that parses serialises and parses back
// equal; every typed read of every node returns a value or an error whose message names the
// field, never an exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/json_reader.h"

namespace {

void ReadEverything(const lf::JsonField& field, int depth) {
  // Each reader either succeeds or explains; what matters is that none throws or crashes.
  (void)field.Int();
  (void)field.Int({.min = 1, .max = 64});
  (void)field.Number({.min = 0, .exclusive_min = true});
  (void)field.String();
  (void)field.NonEmptyString();
  (void)field.Bool();
  (void)field.StringList();
  (void)field.CheckKeys({"name", "base", "space", "lora", "r"});
  (void)field.IntOr("r", 8, {.min = 1});
  (void)field.NumberOr("lr", 1e-4);
  (void)field.StringOr("name", "");
  (void)lf::DescribeJsonValue(field.json());
  if (depth > 8) return;  // the readers are the same at every depth; keep one input fast
  if (auto elements = field.Elements(); elements.ok()) {
    for (const lf::JsonField& e : *elements) ReadEverything(e, depth + 1);
  }
  if (auto members = field.Members(); members.ok()) {
    for (const auto& [key, value] : *members) ReadEverything(value, depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  lf::Result<lf::Json> parsed = lf::ParseJson(text, "fuzz.json");
  if (!parsed.ok()) {
    LF_CHECK_MSG(parsed.status().message().starts_with("fuzz.json"), parsed.status().ToString());
    return 0;
  }
  const std::string dumped = parsed->dump();
  lf::Result<lf::Json> again = lf::ParseJson(dumped, "dumped");
  LF_CHECK_MSG(again.ok(), "a parsed document does not parse after dump(): " +
                               again.status().ToString());
  LF_CHECK_MSG(*again == *parsed, "dump() and parse changed the document: " + dumped);
  ReadEverything(lf::JsonField(*parsed, lf::FieldPath("fuzz")), 0);
  return 0;
}
