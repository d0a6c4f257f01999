#include "worker/tokenizer/tokenizer_json.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace lf::worker {
namespace {

// Real vocabularies stay below 300k tokens; a larger id is a corrupt file, not a model (every id
// below the largest gets a decode slot).
constexpr IntBounds kIdBounds{.min = 0, .max = (1 << 22) - 1};

std::string Unsupported(std::string_view what) {
  return std::string(what) +
         " is not supported; lorafleet reads BPE models (see "
         "docs/formats/tokenizers.md)";
}

// Empty when the merge resolves; otherwise what is wrong with it.
std::string ResolveMerge(const TokenIds& vocab, const std::string& left, const std::string& right,
                         std::string_view vocab_name, BpeMerge* merge) {
  auto l = vocab.find(left);
  if (l == vocab.end()) return "token \"" + left + "\" is not in " + std::string(vocab_name);
  auto r = vocab.find(right);
  if (r == vocab.end()) return "token \"" + right + "\" is not in " + std::string(vocab_name);
  auto m = vocab.find(left + right);
  if (m == vocab.end()) {
    return "the merged token \"" + left + right + "\" is not in " + std::string(vocab_name);
  }
  *merge = {l->second, r->second, m->second};
  return {};
}

// "model.merges" holds "a b" strings (tokenizers < 0.20) or ["a", "b"] pairs (later versions).
Status ParseMerges(const JsonField& merges, const TokenIds& vocab, std::vector<BpeMerge>& out) {
  LF_ASSIGN_OR_RETURN(std::vector<JsonField> elements, merges.Elements());
  out.reserve(elements.size());
  for (const JsonField& e : elements) {
    std::string left, right;
    if (e.json().is_string()) {
      const std::string& line = e.json().get_ref<const std::string&>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        return e.Error("expected two tokens separated by one space, got " +
                       DescribeJsonValue(e.json()));
      }
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else {
      LF_ASSIGN_OR_RETURN(std::vector<std::string> pair, e.StringList());
      if (pair.size() != 2) return e.Error("expected a pair of tokens");
      left = std::move(pair[0]);
      right = std::move(pair[1]);
    }
    BpeMerge merge;
    std::string problem = ResolveMerge(vocab, left, right, "model.vocab", &merge);
    if (!problem.empty()) return e.Error(problem);
    out.push_back(merge);
  }
  return Status::Ok();
}

Result<TokenIds> ParseVocab(const JsonField& vocab) {
  LF_ASSIGN_OR_RETURN(auto members, vocab.Members());
  TokenIds ids;
  ids.reserve(members.size());
  for (const auto& [token, field] : members) {
    LF_ASSIGN_OR_RETURN(int64_t id, field.Int(kIdBounds));
    ids.emplace(token, static_cast<int32_t>(id));
  }
  return ids;
}

Status ParseModel(const JsonField& model, BpeTokenizerSpec& spec) {
  if (auto type_field = model.Optional("type")) {  // absent in some hand-written files
    LF_ASSIGN_OR_RETURN(std::string type, type_field->String());
    if (type != "BPE") return type_field->Error(Unsupported("model type \"" + type + "\""));
  }
  if (auto dropout = model.Optional("dropout")) {
    LF_ASSIGN_OR_RETURN(double p, dropout->Number());
    if (p != 0) return dropout->Error(Unsupported("BPE dropout (random merges)"));
  }
  for (std::string_view key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    LF_ASSIGN_OR_RETURN(std::string affix, model.StringOr(key, ""));
    if (!affix.empty()) {
      return model.Optional(key)->Error(Unsupported("a non-empty " + std::string(key)));
    }
  }
  LF_ASSIGN_OR_RETURN(spec.model.byte_fallback, model.BoolOr("byte_fallback", false));
  LF_ASSIGN_OR_RETURN(spec.model.fuse_unk, model.BoolOr("fuse_unk", false));
  LF_ASSIGN_OR_RETURN(spec.model.ignore_merges, model.BoolOr("ignore_merges", false));
  LF_ASSIGN_OR_RETURN(JsonField vocab, model.Required("vocab"));
  LF_ASSIGN_OR_RETURN(spec.vocab, ParseVocab(vocab));
  LF_ASSIGN_OR_RETURN(JsonField merges, model.Required("merges"));
  LF_RETURN_IF_ERROR(ParseMerges(merges, spec.vocab, spec.merges));
  LF_ASSIGN_OR_RETURN(std::string unk, model.StringOr("unk_token", ""));
  // An unk token missing from the vocabulary makes Hugging Face fail only when a character is
  // unknown; here such a character is dropped, as without an unk token.
  if (auto it = spec.vocab.find(unk); !unk.empty() && it != spec.vocab.end()) {
    spec.model.unk_id = it->second;
  }
  return Status::Ok();
}

// The stages around the model. A pre-tokenizer that is one ByteLevel step is also recorded as
// spec.byte_level (GPT-2 style), which the byte tokenizer's file is recognised by.
Status ParseStages(const JsonField& root, BpeTokenizerSpec& spec) {
  if (auto normalizer = root.Optional("normalizer")) {
    LF_ASSIGN_OR_RETURN(spec.normalizer, ParseNormalizer(*normalizer));
  }
  spec.model.byte_level = false;
  if (auto pre = root.Optional("pre_tokenizer")) {
    LF_ASSIGN_OR_RETURN(ParsedPreTokenizer parsed, ParsePreTokenizer(*pre));
    spec.pre_tokenizer = std::move(parsed.pre_tokenizer);
    spec.model.byte_level = parsed.byte_level;
    if (pre->StringOr("type", "").value_or("") == "ByteLevel") {
      ByteLevelOptions options;
      LF_ASSIGN_OR_RETURN(options.add_prefix_space, pre->BoolOr("add_prefix_space", true));
      LF_ASSIGN_OR_RETURN(options.use_regex, pre->BoolOr("use_regex", true));
      spec.byte_level = options;
    }
  }
  if (auto post = root.Optional("post_processor")) {
    LF_ASSIGN_OR_RETURN(spec.post, ParsePostProcessor(*post));
  }
  if (auto decoder = root.Optional("decoder")) {
    LF_ASSIGN_OR_RETURN(spec.decoder, ParseDecoder(*decoder));
    spec.byte_level_decoder = decoder->StringOr("type", "").value_or("") == "ByteLevel";
  }
  return Status::Ok();
}

// One added token: tokenizer.json's added_tokens[i], or an entry of added_tokens_decoder.
Result<AddedToken> ParseAddedToken(const JsonField& field, int64_t id) {
  AddedToken token;
  token.id = static_cast<int32_t>(id);
  LF_ASSIGN_OR_RETURN(JsonField content, field.Required("content"));
  LF_ASSIGN_OR_RETURN(token.content, content.NonEmptyString());
  LF_ASSIGN_OR_RETURN(token.special, field.BoolOr("special", false));
  LF_ASSIGN_OR_RETURN(token.single_word, field.BoolOr("single_word", false));
  LF_ASSIGN_OR_RETURN(token.lstrip, field.BoolOr("lstrip", false));
  LF_ASSIGN_OR_RETURN(token.rstrip, field.BoolOr("rstrip", false));
  LF_ASSIGN_OR_RETURN(token.normalized, field.BoolOr("normalized", !token.special));
  return token;
}

}  // namespace

Result<BpeTokenizerSpec> ParseTokenizerJson(const Json& doc) {
  JsonField root(doc, FieldPath());
  if (!root.IsObject()) return root.Error("expected an object, got " + DescribeJsonValue(doc));
  BpeTokenizerSpec spec;
  LF_RETURN_IF_ERROR(ParseStages(root, spec));
  LF_ASSIGN_OR_RETURN(JsonField model, root.Required("model"));
  LF_RETURN_IF_ERROR(ParseModel(model, spec));
  if (auto added = root.Optional("added_tokens")) {
    LF_ASSIGN_OR_RETURN(std::vector<JsonField> tokens, added->Elements());
    for (const JsonField& t : tokens) {
      LF_ASSIGN_OR_RETURN(JsonField id, t.Required("id"));
      LF_ASSIGN_OR_RETURN(int64_t value, id.Int(kIdBounds));
      LF_ASSIGN_OR_RETURN(AddedToken token, ParseAddedToken(t, value));
      spec.added.push_back(std::move(token));
    }
  }
  // An id the post-processor adds must be a token: one past the vocabulary would reach the
  // model's embedding as an out-of-range row.
  int32_t max_id = -1;
  for (const auto& [token, id] : spec.vocab) max_id = std::max(max_id, id);
  for (const AddedToken& token : spec.added) max_id = std::max(max_id, token.id);
  for (const std::vector<int32_t>* ids : {&spec.post.prefix, &spec.post.suffix}) {
    for (int32_t id : *ids) {
      if (id > max_id) {
        return root.Optional("post_processor")
            ->Error("special token id " + std::to_string(id) +
                    " is neither in model.vocab nor in added_tokens (the largest id is " +
                    std::to_string(max_id) + ")");
      }
    }
  }
  return spec;
}

Result<BpeTokenizerSpec> ParseVocabAndMerges(const Json& vocab, std::string_view merges_txt) {
  BpeTokenizerSpec spec;
  spec.byte_level = ByteLevelOptions{};  // the loader builds the pre-tokenizer from it
  spec.decoder = MakeByteLevelDecoder();
  spec.byte_level_decoder = true;
  LF_ASSIGN_OR_RETURN(spec.vocab, ParseVocab(JsonField(vocab, FieldPath("vocab.json"))));
  size_t line_number = 0;
  size_t pos = 0;
  while (pos < merges_txt.size()) {
    size_t end = merges_txt.find('\n', pos);
    if (end == std::string_view::npos) end = merges_txt.size();
    std::string_view line = merges_txt.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("#version")) continue;  // Hugging Face skips these lines
    const std::string where = "merges.txt line " + std::to_string(line_number) + ": ";
    const size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
      return InvalidArgument(where + "expected two tokens separated by one space, got " +
                             DescribeJsonValue(std::string(line)));
    }
    BpeMerge merge;
    std::string problem = ResolveMerge(spec.vocab, std::string(line.substr(0, space)),
                                       std::string(line.substr(space + 1)), "vocab.json", &merge);
    if (!problem.empty()) return InvalidArgument(where + problem);
    spec.merges.push_back(merge);
  }
  return spec;
}

Status ApplyTokenizerConfig(const Json* config, BpeTokenizerSpec& spec) {
  std::optional<JsonField> decoder;
  if (config != nullptr) {
    JsonField root(*config, FieldPath("tokenizer_config.json"));
    if (!root.IsObject()) return root.Error("expected an object");
    LF_ASSIGN_OR_RETURN(spec.byte_level->add_prefix_space, root.BoolOr("add_prefix_space", false));
    decoder = root.Optional("added_tokens_decoder");
  }
  if (!decoder) {
    if (auto it = spec.vocab.find("<|endoftext|>"); it != spec.vocab.end()) {
      spec.added.push_back(
          {.content = it->first, .id = it->second, .special = true, .normalized = false});
    }
    return Status::Ok();
  }
  LF_ASSIGN_OR_RETURN(auto members, decoder->Members());
  for (const auto& [key, field] : members) {
    int64_t id = -1;
    try {
      size_t used = 0;
      id = std::stoll(key, &used);
      if (used != key.size()) id = -1;
    } catch (const std::exception&) {
      id = -1;
    }
    if (id < 0 || id > kIdBounds.max) return field.Error("the key must be a token id");
    LF_ASSIGN_OR_RETURN(AddedToken token, ParseAddedToken(field, id));
    spec.added.push_back(std::move(token));
  }
  return Status::Ok();
}

}  // namespace lf::worker
