#include "jobs/job_spec.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <ostream>

#include "jobs/enum_names.h"

namespace lf::jobs {
namespace {

using internal::EnumName;
using internal::ParseEnum;

constexpr EnumName<Method> kMethodNames[] = {
    {Method::kLora, "lora"},
    {Method::kDora, "dora"},
    {Method::kIa3, "ia3"},
    {Method::kQlora, "qlora"},
    {Method::kPromptTuning, "prompt_tuning"},
    {Method::kPTuning, "p_tuning"},
    {Method::kPrefixTuning, "prefix_tuning"},
    {Method::kBottleneck, "bottleneck"},
    {Method::kCompacter, "compacter"},
    {Method::kBitfit, "bitfit"},
    {Method::kFull, "full"},
};

constexpr EnumName<TrainOn> kTrainOnNames[] = {
    {TrainOn::kAssistant, "assistant"},
    {TrainOn::kLastAssistant, "last_assistant"},
    {TrainOn::kAll, "all"}};
constexpr EnumName<DataPacking> kPackingNames[] = {
    {DataPacking::kAuto, "auto"},
    {DataPacking::kStream, "stream"},
    {DataPacking::kDocuments, "documents"},
    {DataPacking::kPad, "pad"}};

Status ParseData(const JsonField& f, DataSpec* d) {
  LF_RETURN_IF_ERROR(f.CheckKeys(
      {"train", "eval", "general_eval", "seq_len", "train_on", "packing", "chat_template"}));
  LF_ASSIGN_OR_RETURN(JsonField train, f.Required("train"));
  LF_ASSIGN_OR_RETURN(d->train, train.NonEmptyString());
  LF_ASSIGN_OR_RETURN(d->eval, f.StringOr("eval", ""));
  LF_ASSIGN_OR_RETURN(d->general_eval, f.StringOr("general_eval", ""));
  LF_ASSIGN_OR_RETURN(d->seq_len, f.IntOr("seq_len", d->seq_len, {.min = 2, .max = 1 << 20}));
  if (auto t = f.Optional("train_on")) {
    LF_ASSIGN_OR_RETURN(d->train_on, ParseEnum(*t, kTrainOnNames));
  }
  if (auto p = f.Optional("packing")) {
    LF_ASSIGN_OR_RETURN(d->packing, ParseEnum(*p, kPackingNames));
  }
  LF_ASSIGN_OR_RETURN(d->chat_template, f.StringOr("chat_template", ""));
  return Status::Ok();
}

Status ParseModuleList(const JsonField& f, std::vector<std::string>* out) {
  LF_ASSIGN_OR_RETURN(*out, f.StringList());
  if (out->empty()) return f.Error("must name at least one module, or be left out");
  for (const std::string& name : *out) {
    if (name.empty()) return f.Error("module names must not be empty");
  }
  return Status::Ok();
}

// LoRA's keys, without checking for others (QLoRA's block adds its own).
Status ParseLoraValues(const JsonField& f, LoraSpec* l) {
  LF_ASSIGN_OR_RETURN(l->r, f.IntOr("r", l->r, {.min = 1, .max = 65536}));
  LF_ASSIGN_OR_RETURN(l->alpha, f.NumberOr("alpha", l->alpha, {.min = 0, .exclusive_min = true}));
  LF_ASSIGN_OR_RETURN(l->dropout, f.NumberOr("dropout", l->dropout, {.min = 0, .max = 0.999}));
  LF_ASSIGN_OR_RETURN(l->rslora, f.BoolOr("rslora", l->rslora));
  if (auto t = f.Optional("target_modules")) {
    LF_RETURN_IF_ERROR(ParseModuleList(*t, &l->target_modules));
  }
  if (auto layers = f.Optional("layers_to_transform")) {
    LF_ASSIGN_OR_RETURN(auto elements, layers->Elements());
    if (elements.empty()) return layers->Error("must name at least one layer, or be left out");
    for (const JsonField& e : elements) {
      LF_ASSIGN_OR_RETURN(int64_t layer, e.Int({.min = 0}));
      l->layers_to_transform.push_back(layer);
    }
  }
  return Status::Ok();
}

Status ParseLora(const JsonField& f, LoraSpec* l) {
  LF_RETURN_IF_ERROR(f.CheckKeys(
      {"r", "alpha", "dropout", "target_modules", "rslora", "layers_to_transform"}));
  return ParseLoraValues(f, l);
}

Status ParseQlora(const JsonField& f, QloraSpec* q) {
  LF_RETURN_IF_ERROR(f.CheckKeys({"r", "alpha", "dropout", "target_modules", "rslora",
                                  "layers_to_transform", "double_quant", "block_size"}));
  LF_RETURN_IF_ERROR(ParseLoraValues(f, q));
  LF_ASSIGN_OR_RETURN(q->double_quant, f.BoolOr("double_quant", q->double_quant));
  LF_ASSIGN_OR_RETURN(q->block_size, f.IntOr("block_size", q->block_size, {.min = 2, .max = 4096}));
  if (q->block_size % 2 != 0) {
    return f.Required("block_size")->Error("must be even (two 4-bit codes share a byte), got " +
                                           std::to_string(q->block_size));
  }
  return Status::Ok();
}

Status ParseIa3(const JsonField& f, Ia3Spec* s) {
  LF_RETURN_IF_ERROR(f.CheckKeys({"target_modules", "feedforward_modules"}));
  if (auto t = f.Optional("target_modules")) {
    LF_RETURN_IF_ERROR(ParseModuleList(*t, &s->target_modules));
  }
  if (auto ff = f.Optional("feedforward_modules")) {
    LF_RETURN_IF_ERROR(ParseModuleList(*ff, &s->feedforward_modules));
    if (!s->target_modules.empty()) {
      for (const std::string& name : s->feedforward_modules) {
        if (std::find(s->target_modules.begin(), s->target_modules.end(), name) ==
            s->target_modules.end()) {
          return ff->Error("\"" + name + "\" is not in target_modules; feed-forward modules must "
                           "be a subset of the targeted ones (as PEFT requires)");
        }
      }
    }
  }
  return Status::Ok();
}

// `value` must be one of `allowed` (a closed set of names in a method block).
Status CheckOneOf(const JsonField& f, const std::string& value,
                  std::initializer_list<const char*> allowed) {
  std::string names;
  for (const char* a : allowed) {
    if (value == a) return Status::Ok();
    names += (names.empty() ? "" : ", ") + std::string(a);
  }
  return f.Error("expected one of " + names + ", got \"" + value + "\"");
}

constexpr int64_t kMaxVirtualTokens = 4096;

Status ParsePromptTuning(const JsonField& f, PromptTuningSpec* s) {
  LF_RETURN_IF_ERROR(f.CheckKeys({"num_virtual_tokens", "init"}));
  LF_ASSIGN_OR_RETURN(s->num_virtual_tokens,
                      f.IntOr("num_virtual_tokens", s->num_virtual_tokens,
                              {.min = 1, .max = kMaxVirtualTokens}));
  LF_ASSIGN_OR_RETURN(s->init, f.StringOr("init", s->init));
  if (auto init = f.Optional("init")) {
    LF_RETURN_IF_ERROR(CheckOneOf(*init, s->init, {"random", "sample_vocab"}));
  }
  return Status::Ok();
}

Status ParsePTuning(const JsonField& f, PTuningSpec* s) {
  LF_RETURN_IF_ERROR(f.CheckKeys({"num_virtual_tokens", "encoder_hidden_size"}));
  LF_ASSIGN_OR_RETURN(s->num_virtual_tokens,
                      f.IntOr("num_virtual_tokens", s->num_virtual_tokens,
                              {.min = 1, .max = kMaxVirtualTokens}));
  LF_ASSIGN_OR_RETURN(s->encoder_hidden_size,
                      f.IntOr("encoder_hidden_size", s->encoder_hidden_size, {.min = 0}));
  return Status::Ok();
}

Status ParsePrefixTuning(const JsonField& f, PrefixTuningSpec* s) {
  LF_RETURN_IF_ERROR(
      f.CheckKeys({"num_virtual_tokens", "prefix_projection", "encoder_hidden_size"}));
  LF_ASSIGN_OR_RETURN(s->num_virtual_tokens,
                      f.IntOr("num_virtual_tokens", s->num_virtual_tokens,
                              {.min = 1, .max = kMaxVirtualTokens}));
  LF_ASSIGN_OR_RETURN(s->prefix_projection, f.BoolOr("prefix_projection", s->prefix_projection));
  LF_ASSIGN_OR_RETURN(s->encoder_hidden_size,
                      f.IntOr("encoder_hidden_size", s->encoder_hidden_size, {.min = 0}));
  if (s->encoder_hidden_size > 0 && !s->prefix_projection) {
    return f.Required("encoder_hidden_size")
        ->Error("is the width of the reparameterisation MLP; set prefix_projection: true or "
                "remove it");
  }
  return Status::Ok();
}

// The bottleneck keys, without checking for others (Compacter's block adds its own).
Status ParseBottleneckValues(const JsonField& f, BottleneckSpec* s) {
  LF_ASSIGN_OR_RETURN(s->size, f.IntOr("size", s->size, {.min = 1, .max = 65536}));
  LF_ASSIGN_OR_RETURN(s->activation, f.StringOr("activation", s->activation));
  if (auto act = f.Optional("activation")) {
    LF_RETURN_IF_ERROR(CheckOneOf(*act, s->activation, {"relu", "gelu", "tanh", "silu"}));
  }
  if (auto after = f.Optional("after")) {
    LF_ASSIGN_OR_RETURN(s->after, after->StringList());
    if (s->after.empty()) {
      return after->Error("must name attention, feed_forward or both, or be left out");
    }
    for (size_t i = 0; i < s->after.size(); ++i) {
      LF_RETURN_IF_ERROR(CheckOneOf(*after, s->after[i], {"attention", "feed_forward"}));
      if (std::find(s->after.begin(), s->after.begin() + i, s->after[i]) !=
          s->after.begin() + i) {
        return after->Error("names \"" + s->after[i] + "\" twice");
      }
    }
  }
  LF_ASSIGN_OR_RETURN(s->dropout, f.NumberOr("dropout", s->dropout, {.min = 0, .max = 0.999}));
  LF_ASSIGN_OR_RETURN(s->scaling,
                      f.NumberOr("scaling", s->scaling, {.min = 0, .exclusive_min = true}));
  return Status::Ok();
}

Status ParseBottleneck(const JsonField& f, BottleneckSpec* s) {
  LF_RETURN_IF_ERROR(f.CheckKeys({"size", "activation", "after", "dropout", "scaling"}));
  return ParseBottleneckValues(f, s);
}

Status ParseCompacter(const JsonField& f, CompacterSpec* s) {
  LF_RETURN_IF_ERROR(f.CheckKeys(
      {"size", "activation", "after", "dropout", "scaling", "phm_dim", "phm_rank"}));
  LF_RETURN_IF_ERROR(ParseBottleneckValues(f, s));
  LF_ASSIGN_OR_RETURN(s->phm_dim, f.IntOr("phm_dim", s->phm_dim, {.min = 1, .max = 64}));
  LF_ASSIGN_OR_RETURN(s->phm_rank, f.IntOr("phm_rank", s->phm_rank, {.min = 1, .max = 4096}));
  if (s->size % s->phm_dim != 0) {
    return f.Error("size (" + std::to_string(s->size) + ") must be divisible by phm_dim (" +
                   std::to_string(s->phm_dim) + ")");
  }
  return Status::Ok();
}

Json BottleneckToJson(const BottleneckSpec& s) {
  return {{"size", s.size},
          {"activation", s.activation},
          {"after", s.after},
          {"dropout", s.dropout},
          {"scaling", s.scaling}};
}

// The block of a method without settings (bitfit, full): absent, null or an empty mapping.
Status ParseEmptyBlock(const JsonField& f, std::string_view method) {
  if (!f.json().is_object()) {
    return f.Error("expected an empty mapping ({}), got " + DescribeJsonValue(f.json()));
  }
  if (!f.json().empty()) {
    return f.Error("unknown key \"" + f.json().begin().key() + "\": " + std::string(method) +
                   " has no settings; leave the block empty or remove it");
  }
  return Status::Ok();
}

Json LoraToJson(const LoraSpec& l) {
  return {{"r", l.r},
          {"alpha", l.alpha},
          {"dropout", l.dropout},
          // null, not [], for "the default": ParseJobSpec reads the result back unchanged.
          {"target_modules", l.target_modules.empty() ? Json(nullptr) : Json(l.target_modules)},
          {"rslora", l.rslora},
          {"layers_to_transform",
           l.layers_to_transform.empty() ? Json(nullptr) : Json(l.layers_to_transform)}};
}

Json ModulesOrNull(const std::vector<std::string>& modules) {
  return modules.empty() ? Json(nullptr) : Json(modules);
}

void ResolvePath(std::string* path, std::string_view base_dir) {
  if (path->empty()) return;
  std::filesystem::path p(*path);
  if (p.is_absolute()) return;
  *path = (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

}  // namespace

std::string_view TrainOnName(TrainOn t) { return internal::NameOf(t, kTrainOnNames); }
std::string_view DataPackingName(DataPacking p) { return internal::NameOf(p, kPackingNames); }

std::string_view MethodName(Method m) { return internal::NameOf(m, kMethodNames); }

Result<Method> ParseMethod(std::string_view name) {
  if (auto m = internal::ValueOf(name, kMethodNames)) return *m;
  return InvalidArgument("unknown method \"" + std::string(name) +
                         "\"; this version trains: " + internal::NameList(kMethodNames));
}

const std::vector<Method>& AllMethods() {
  static const std::vector<Method> kAll = [] {
    std::vector<Method> all;
    for (const auto& [m, name] : kMethodNames) all.push_back(m);
    return all;
  }();
  return kAll;
}

std::string_view PeftType(Method m) {
  switch (m) {
    case Method::kLora:
    case Method::kDora:
    case Method::kQlora: return "LORA";
    case Method::kIa3: return "IA3";
    case Method::kPromptTuning: return "PROMPT_TUNING";
    case Method::kPTuning: return "P_TUNING";
    case Method::kPrefixTuning: return "PREFIX_TUNING";
    case Method::kBottleneck: return "BOTTLENECK";
    case Method::kCompacter: return "COMPACTER";
    case Method::kBitfit: return "BITFIT";
    case Method::kFull: return "";
  }
  return "";
}

std::ostream& operator<<(std::ostream& os, Method m) { return os << MethodName(m); }

const LoraSpec* LoraSettings(const JobSpec& job) {
  switch (job.method) {
    case Method::kLora: return &job.lora;
    case Method::kDora: return &job.dora;
    case Method::kQlora: return &job.qlora;
    case Method::kIa3:
    case Method::kPromptTuning:
    case Method::kPTuning:
    case Method::kPrefixTuning:
    case Method::kBottleneck:
    case Method::kCompacter:
    case Method::kBitfit:
    case Method::kFull: return nullptr;
  }
  return nullptr;
}

namespace {

// The settings block of the job's method, as ParseJobSpec reads it.
Json MethodBlockToJson(const JobSpec& s) {
  switch (s.method) {
    case Method::kLora: return LoraToJson(s.lora);
    case Method::kDora: return LoraToJson(s.dora);
    case Method::kQlora: {
      Json j = LoraToJson(s.qlora);
      j["double_quant"] = s.qlora.double_quant;
      j["block_size"] = s.qlora.block_size;
      return j;
    }
    case Method::kIa3:
      return {{"target_modules", ModulesOrNull(s.ia3.target_modules)},
              {"feedforward_modules", ModulesOrNull(s.ia3.feedforward_modules)}};
    case Method::kPromptTuning:
      return {{"num_virtual_tokens", s.prompt_tuning.num_virtual_tokens},
              {"init", s.prompt_tuning.init}};
    case Method::kPTuning:
      return {{"num_virtual_tokens", s.p_tuning.num_virtual_tokens},
              {"encoder_hidden_size", s.p_tuning.encoder_hidden_size}};
    case Method::kPrefixTuning:
      return {{"num_virtual_tokens", s.prefix_tuning.num_virtual_tokens},
              {"prefix_projection", s.prefix_tuning.prefix_projection},
              {"encoder_hidden_size", s.prefix_tuning.encoder_hidden_size}};
    case Method::kBottleneck: return BottleneckToJson(s.bottleneck);
    case Method::kCompacter: {
      Json j = BottleneckToJson(s.compacter);
      j["phm_dim"] = s.compacter.phm_dim;
      j["phm_rank"] = s.compacter.phm_rank;
      return j;
    }
    case Method::kBitfit:
    case Method::kFull: return Json::object();
  }
  return Json::object();
}

}  // namespace

Result<JobSpec> ParseJobSpec(const Json& doc, std::string_view root) {
  JsonField f(doc, FieldPath(std::string(root)));
  if (!doc.is_object()) return f.Error("expected a job (a mapping), got " + DescribeJsonValue(doc));
  LF_RETURN_IF_ERROR(f.CheckKeys(
      {"base_model", "data", "method", "lora", "dora", "ia3", "qlora", "prompt_tuning", "p_tuning",
       "prefix_tuning", "bottleneck", "compacter", "bitfit", "full", "train", "output"}));
  JobSpec spec;
  LF_ASSIGN_OR_RETURN(JsonField base, f.Required("base_model"));
  LF_ASSIGN_OR_RETURN(spec.base_model, base.NonEmptyString());
  LF_ASSIGN_OR_RETURN(JsonField data, f.Required("data"));
  LF_RETURN_IF_ERROR(ParseData(data, &spec.data));
  if (auto method = f.Optional("method")) {
    LF_ASSIGN_OR_RETURN(std::string name, method->String());
    Result<Method> parsed = ParseMethod(name);
    if (!parsed.ok()) return method->Error(parsed.status().message());
    spec.method = *parsed;
  }
  // A block for another method is a mistake (a half-edited job), not something to ignore.
  const std::string_view method = MethodName(spec.method);
  for (const auto& [other, name] : kMethodNames) {
    if (other == spec.method) continue;
    if (auto block = f.Optional(name)) {
      return block->Error("given but method is " + std::string(method) +
                          "; remove it or set method: " + std::string(name));
    }
  }
  if (auto lora = f.Optional("lora")) LF_RETURN_IF_ERROR(ParseLora(*lora, &spec.lora));
  if (auto dora = f.Optional("dora")) LF_RETURN_IF_ERROR(ParseLora(*dora, &spec.dora));
  if (auto ia3 = f.Optional("ia3")) LF_RETURN_IF_ERROR(ParseIa3(*ia3, &spec.ia3));
  if (auto qlora = f.Optional("qlora")) LF_RETURN_IF_ERROR(ParseQlora(*qlora, &spec.qlora));
  if (auto p = f.Optional("prompt_tuning")) {
    LF_RETURN_IF_ERROR(ParsePromptTuning(*p, &spec.prompt_tuning));
  }
  if (auto p = f.Optional("p_tuning")) LF_RETURN_IF_ERROR(ParsePTuning(*p, &spec.p_tuning));
  if (auto p = f.Optional("prefix_tuning")) {
    LF_RETURN_IF_ERROR(ParsePrefixTuning(*p, &spec.prefix_tuning));
  }
  if (auto b = f.Optional("bottleneck")) LF_RETURN_IF_ERROR(ParseBottleneck(*b, &spec.bottleneck));
  if (auto c = f.Optional("compacter")) LF_RETURN_IF_ERROR(ParseCompacter(*c, &spec.compacter));
  for (const char* empty : {"bitfit", "full"}) {
    if (auto block = f.Optional(empty)) LF_RETURN_IF_ERROR(ParseEmptyBlock(*block, empty));
  }
  if (auto train = f.Optional("train")) LF_RETURN_IF_ERROR(ParseTrainSpec(*train, &spec.train));
  LF_ASSIGN_OR_RETURN(spec.output, f.StringOr("output", ""));
  return spec;
}

Json JobSpecToJson(const JobSpec& s) {
  Json j = {
      {"base_model", s.base_model},
      {"data",
       {{"train", s.data.train},
        {"eval", s.data.eval},
        {"general_eval", s.data.general_eval},
        {"seq_len", s.data.seq_len},
        {"train_on", TrainOnName(s.data.train_on)},
        {"packing", DataPackingName(s.data.packing)},
        {"chat_template", s.data.chat_template}}},
      {"method", MethodName(s.method)},
      {"train", TrainSpecToJson(s.train)},
      {"output", s.output},
  };
  // Only the selected method's block: ParseJobSpec refuses a block for another method.
  j[std::string(MethodName(s.method))] = MethodBlockToJson(s);
  return j;
}

void ResolveJobPaths(JobSpec* job, std::string_view base_dir) {
  ResolvePath(&job->base_model, base_dir);
  ResolvePath(&job->data.train, base_dir);
  ResolvePath(&job->data.eval, base_dir);
  ResolvePath(&job->data.general_eval, base_dir);
  ResolvePath(&job->data.chat_template, base_dir);
}

}  // namespace lf::jobs
