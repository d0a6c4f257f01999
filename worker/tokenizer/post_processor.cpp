#include "worker/tokenizer/post_processor.h"

#include <map>
#include <string>

namespace lf::worker {
namespace {

constexpr std::string_view kSupported = "supported: TemplateProcessing, ByteLevel, Sequence";
constexpr IntBounds kIdBounds{.min = 0, .max = (1 << 22) - 1};

Status ParseTemplate(const JsonField& field, PostProcessorSpec& spec) {
  // special_tokens: {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
  std::map<std::string, std::vector<int32_t>> specials;
  if (auto map = field.Optional("special_tokens")) {
    LF_ASSIGN_OR_RETURN(auto members, map->Members());
    for (const auto& [name, entry] : members) {
      LF_ASSIGN_OR_RETURN(JsonField ids_field, entry.Required("ids"));
      LF_ASSIGN_OR_RETURN(std::vector<JsonField> ids, ids_field.Elements());
      std::vector<int32_t>& out = specials[name];
      for (const JsonField& id : ids) {
        LF_ASSIGN_OR_RETURN(int64_t value, id.Int(kIdBounds));
        out.push_back(static_cast<int32_t>(value));
      }
    }
  }
  LF_ASSIGN_OR_RETURN(JsonField single, field.Required("single"));
  LF_ASSIGN_OR_RETURN(std::vector<JsonField> pieces, single.Elements());
  bool seen_sequence = false;
  for (const JsonField& piece : pieces) {
    if (auto special = piece.Optional("SpecialToken")) {
      LF_ASSIGN_OR_RETURN(std::string id, special->StringAt("id"));
      auto it = specials.find(id);
      if (it == specials.end()) {
        return special->Error("special token \"" + id + "\" is not in special_tokens");
      }
      std::vector<int32_t>& side = seen_sequence ? spec.suffix : spec.prefix;
      side.insert(side.end(), it->second.begin(), it->second.end());
    } else if (auto sequence = piece.Optional("Sequence")) {
      LF_ASSIGN_OR_RETURN(std::string id, sequence->StringAt("id"));
      if (id != "A" || seen_sequence) {
        return sequence->Error("a single-sequence template must hold sequence A once");
      }
      seen_sequence = true;
    } else {
      return piece.Error("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
  }
  if (!seen_sequence) return single.Error("the template does not hold sequence A");
  return Status::Ok();
}

Status Parse(const JsonField& field, PostProcessorSpec& spec) {
  LF_ASSIGN_OR_RETURN(JsonField type_field, field.Required("type"));
  LF_ASSIGN_OR_RETURN(std::string type, type_field.String());
  if (type == "TemplateProcessing") {
    if (!spec.prefix.empty() || !spec.suffix.empty()) {
      return type_field.Error("a second TemplateProcessing is not supported");
    }
    return ParseTemplate(field, spec);
  }
  if (type == "ByteLevel") {
    LF_ASSIGN_OR_RETURN(spec.trim_offsets, field.BoolOr("trim_offsets", true));
    LF_ASSIGN_OR_RETURN(spec.add_prefix_space, field.BoolOr("add_prefix_space", true));
    return Status::Ok();
  }
  if (type == "Sequence") {
    LF_ASSIGN_OR_RETURN(JsonField list, field.Required("processors"));
    LF_ASSIGN_OR_RETURN(std::vector<JsonField> elements, list.Elements());
    for (const JsonField& e : elements) LF_RETURN_IF_ERROR(Parse(e, spec));
    return Status::Ok();
  }
  return type_field.Error("post-processor \"" + type + "\" is not supported; " +
                          std::string(kSupported));
}

}  // namespace

Result<PostProcessorSpec> ParsePostProcessor(const JsonField& field) {
  PostProcessorSpec spec;
  LF_RETURN_IF_ERROR(Parse(field, spec));
  return spec;
}

}  // namespace lf::worker
