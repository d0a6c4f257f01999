#include "jobs/trial_result.h"

#include "jobs/enum_names.h"

namespace lf::jobs {
namespace {

constexpr internal::EnumName<StopReason> kStopReasonNames[] = {
    {StopReason::kCompleted, "completed"},
    {StopReason::kEarlyStopped, "early_stopped"},
    {StopReason::kStopped, "stopped"},
    {StopReason::kDiverged, "diverged"}};

Result<std::optional<double>> OptionalNumber(const JsonField& f, std::string_view key) {
  auto field = f.Optional(key);
  if (!field) return std::optional<double>();
  LF_ASSIGN_OR_RETURN(double v, field->Number());
  return std::optional<double>(v);
}

Status ParseLineage(const JsonField& f, TrialResult* r) {
  if (auto lineage = f.Optional("lineage")) {
    if (auto base = lineage->Optional("base_model")) r->base_model = base->json();
    if (auto resumed = lineage->Optional("resumed_from")) {
      LF_ASSIGN_OR_RETURN(r->resumed_from_checkpoint, resumed->StringOr("checkpoint", ""));
    }
  }
  if (auto data = f.Optional("data")) {
    LF_ASSIGN_OR_RETURN(std::vector<JsonField> files, data->Elements());
    for (const JsonField& d : files) {
      DataLineage l;
      LF_ASSIGN_OR_RETURN(l.path, d.StringOr("path", ""));
      LF_ASSIGN_OR_RETURN(l.sha256, d.StringOr("sha256", ""));
      LF_ASSIGN_OR_RETURN(l.examples, d.IntOr("examples", 0, {.min = 0}));
      LF_ASSIGN_OR_RETURN(l.tokens, d.IntOr("tokens", 0, {.min = 0}));
      r->data.push_back(std::move(l));
    }
  }
  return Status::Ok();
}

}  // namespace

std::string_view StopReasonName(StopReason r) { return internal::NameOf(r, kStopReasonNames); }

Result<StopReason> ParseStopReason(std::string_view name) {
  if (auto r = internal::ValueOf(name, kStopReasonNames)) return *r;
  return InvalidArgument("unknown stop reason '" + std::string(name) + "'; expected one of " +
                         internal::NameList(kStopReasonNames));
}

bool HasFinalOutputs(StopReason r) {
  return r == StopReason::kCompleted || r == StopReason::kEarlyStopped;
}

std::optional<double> TrialResult::forgetting() const {
  if (!general_eval_loss || !general_eval_loss_base) return std::nullopt;
  return *general_eval_loss - *general_eval_loss_base;
}

Json TrialResultToJson(const TrialResult& r) {
  Json j = {
      {"lorafleet_version", r.lorafleet_version},
      {"completed", HasFinalOutputs(r.stop_reason)},
      {"stop_reason", StopReasonName(r.stop_reason)},
      {"stop_detail", r.stop_detail},
      {"steps", r.steps},
      {"early_stopped", r.early_stopped()},
      {"stopped_at_step", r.early_stopped() ? Json(r.steps) : Json(nullptr)},
      {"resumed_from_step", r.resumed_from_step},
      {"final_train_loss", r.final_train_loss},
      {"eval_loss", OrNull(r.eval_loss)},
      {"eval_perplexity", OrNull(r.eval_perplexity)},
      {"initial_eval_loss", OrNull(r.initial_eval_loss)},
      {"train_tokens", r.train_tokens},
      {"tokens_per_s", r.tokens_per_s},
      {"wall_s", r.wall_s},
      {"peak_memory_bytes", r.peak_memory_bytes},
      {"trainable_params", r.trainable_params},
      {"base_params", r.base_params},
      {"devices", r.devices},
      {"precision", PrecisionName(r.precision)},
      {"overflow_skipped_steps", r.overflow_skipped_steps},
      {"device_s", r.device_s()},
      {"general_eval_loss_base", OrNull(r.general_eval_loss_base)},
      {"general_eval_loss", OrNull(r.general_eval_loss)},
      {"forgetting", OrNull(r.forgetting())},
      // Where the adapter came from, beside "job" (the resolved config, seed included), "data"
      // (each file's sha256) and "lorafleet_version".
      {"lineage",
       {{"base_model", r.base_model},
        {"resumed_from", r.resumed_from_checkpoint.empty()
                             ? Json(nullptr)
                             : Json{{"checkpoint", r.resumed_from_checkpoint},
                                    {"step", r.resumed_from_step}}}}},
      {"adapter_dir", r.adapter_dir},
      {"adapter_bytes", r.adapter_bytes},
      {"data", Json::array()},
      {"job", r.job ? JobSpecToJson(*r.job) : Json(nullptr)}};
  for (const DataLineage& d : r.data) {
    j["data"].push_back(
        {{"path", d.path}, {"sha256", d.sha256}, {"examples", d.examples}, {"tokens", d.tokens}});
  }
  return j;
}

Result<TrialResult> ParseTrialResult(const Json& doc, std::string_view root) {
  JsonField f(doc, FieldPath(std::string(root)));
  if (!doc.is_object()) return f.Error("expected a trial result (an object)");
  TrialResult r;
  LF_ASSIGN_OR_RETURN(std::string reason, f.StringOr("stop_reason", "completed"));
  if (Result<StopReason> parsed = ParseStopReason(reason); parsed.ok()) {
    r.stop_reason = *parsed;
    LF_ASSIGN_OR_RETURN(r.stop_detail, f.StringOr("stop_detail", ""));
  } else {
    // Before stop reasons had names, a diverged run's stop_reason was its message.
    r.stop_reason = StopReason::kDiverged;
    r.stop_detail = reason;
  }
  LF_ASSIGN_OR_RETURN(r.lorafleet_version, f.StringOr("lorafleet_version", ""));
  LF_ASSIGN_OR_RETURN(r.steps, f.IntOr("steps", 0, {.min = 0}));
  LF_ASSIGN_OR_RETURN(r.resumed_from_step, f.IntOr("resumed_from_step", 0, {.min = 0}));
  LF_ASSIGN_OR_RETURN(r.final_train_loss, f.NumberOr("final_train_loss", 0));
  LF_ASSIGN_OR_RETURN(r.eval_loss, OptionalNumber(f, "eval_loss"));
  LF_ASSIGN_OR_RETURN(r.eval_perplexity, OptionalNumber(f, "eval_perplexity"));
  LF_ASSIGN_OR_RETURN(r.initial_eval_loss, OptionalNumber(f, "initial_eval_loss"));
  LF_ASSIGN_OR_RETURN(r.train_tokens, f.IntOr("train_tokens", 0, {.min = 0}));
  LF_ASSIGN_OR_RETURN(r.tokens_per_s, f.NumberOr("tokens_per_s", 0, {.min = 0}));
  LF_ASSIGN_OR_RETURN(r.wall_s, f.NumberOr("wall_s", 0, {.min = 0}));
  LF_ASSIGN_OR_RETURN(r.peak_memory_bytes, f.IntOr("peak_memory_bytes", 0, {.min = 0}));
  LF_ASSIGN_OR_RETURN(r.trainable_params, f.IntOr("trainable_params", 0, {.min = 0}));
  LF_ASSIGN_OR_RETURN(r.base_params, f.IntOr("base_params", 0, {.min = 0}));
  LF_ASSIGN_OR_RETURN(r.devices, f.IntOr("devices", 1, {.min = 1}));
  if (auto precision = f.Optional("precision")) {
    LF_ASSIGN_OR_RETURN(std::string name, precision->String());
    Result<Precision> parsed = ParsePrecision(name);
    if (!parsed.ok()) return precision->Error(parsed.status().message());
    r.precision = *parsed;
  }
  LF_ASSIGN_OR_RETURN(r.overflow_skipped_steps,
                      f.IntOr("overflow_skipped_steps", 0, {.min = 0}));
  LF_ASSIGN_OR_RETURN(r.general_eval_loss_base, OptionalNumber(f, "general_eval_loss_base"));
  LF_ASSIGN_OR_RETURN(r.general_eval_loss, OptionalNumber(f, "general_eval_loss"));
  LF_ASSIGN_OR_RETURN(r.adapter_dir, f.StringOr("adapter_dir", ""));
  LF_ASSIGN_OR_RETURN(r.adapter_bytes, f.IntOr("adapter_bytes", 0, {.min = 0}));
  LF_RETURN_IF_ERROR(ParseLineage(f, &r));
  if (auto job = f.Optional("job")) {
    LF_ASSIGN_OR_RETURN(r.job, ParseJobSpec(job->json(), job->path().str()));
  }
  return r;
}

}  // namespace lf::jobs
