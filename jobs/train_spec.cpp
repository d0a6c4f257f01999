// The `train:` block of a job: how to train (steps, batches, optimizer, schedule, precision,
// checkpoints), parsed strictly and written back in its resolved form.
#include "jobs/enum_names.h"
#include "jobs/job_spec.h"

namespace lf::jobs {
namespace {

using internal::EnumName;

constexpr EnumName<Schedule> kScheduleNames[] = {
    {Schedule::kConstant, "constant"}, {Schedule::kLinear, "linear"}, {Schedule::kCosine, "cosine"}};
constexpr EnumName<Precision> kPrecisionNames[] = {{Precision::kAuto, "auto"},
                                                   {Precision::kBf16, "bf16"},
                                                   {Precision::kFp16, "fp16"},
                                                   {Precision::kFp32, "fp32"}};

}  // namespace

std::string_view ScheduleName(Schedule s) { return internal::NameOf(s, kScheduleNames); }
std::string_view PrecisionName(Precision p) { return internal::NameOf(p, kPrecisionNames); }

Result<Precision> ParsePrecision(std::string_view name) {
  if (auto p = internal::ValueOf(name, kPrecisionNames)) return *p;
  return InvalidArgument("unknown precision \"" + std::string(name) + "\"; expected one of " +
                         internal::NameList(kPrecisionNames));
}

Precision ResolvePrecision(Precision p, bool cuda) {
  if (p != Precision::kAuto) return p;
  return cuda ? Precision::kBf16 : Precision::kFp32;
}

Status ParseTrainSpec(const JsonField& f, TrainSpec* t) {
  LF_RETURN_IF_ERROR(f.CheckKeys({"steps", "batch_size", "grad_accum", "lr", "schedule", "warmup",
                                  "weight_decay", "max_grad_norm", "seed", "eval_every",
                                  "eval_batches", "checkpoint_every", "log_every", "precision",
                                  "gradient_checkpointing"}));
  LF_ASSIGN_OR_RETURN(t->steps, f.IntOr("steps", t->steps, {.min = 1}));
  LF_ASSIGN_OR_RETURN(t->batch_size, f.IntOr("batch_size", t->batch_size, {.min = 1}));
  LF_ASSIGN_OR_RETURN(t->grad_accum, f.IntOr("grad_accum", t->grad_accum, {.min = 1}));
  LF_ASSIGN_OR_RETURN(t->lr, f.NumberOr("lr", t->lr, {.min = 0, .exclusive_min = true}));
  if (auto s = f.Optional("schedule")) {
    LF_ASSIGN_OR_RETURN(t->schedule, internal::ParseEnum(*s, kScheduleNames));
  }
  LF_ASSIGN_OR_RETURN(t->warmup, f.IntOr("warmup", t->warmup, {.min = 0}));
  if (t->warmup >= t->steps && t->warmup > 0) {
    return f.Required("warmup")->Error("warmup (" + std::to_string(t->warmup) +
                                       ") must be shorter than steps (" +
                                       std::to_string(t->steps) + ")");
  }
  LF_ASSIGN_OR_RETURN(t->weight_decay, f.NumberOr("weight_decay", t->weight_decay, {.min = 0}));
  LF_ASSIGN_OR_RETURN(t->max_grad_norm, f.NumberOr("max_grad_norm", t->max_grad_norm, {.min = 0}));
  LF_ASSIGN_OR_RETURN(int64_t seed, f.IntOr("seed", 0, {.min = 0}));
  t->seed = static_cast<uint64_t>(seed);
  LF_ASSIGN_OR_RETURN(t->eval_every, f.IntOr("eval_every", t->eval_every, {.min = 0}));
  LF_ASSIGN_OR_RETURN(t->eval_batches, f.IntOr("eval_batches", t->eval_batches, {.min = 0}));
  LF_ASSIGN_OR_RETURN(t->checkpoint_every,
                      f.IntOr("checkpoint_every", t->checkpoint_every, {.min = 0}));
  LF_ASSIGN_OR_RETURN(t->log_every, f.IntOr("log_every", t->log_every, {.min = 1}));
  if (auto p = f.Optional("precision")) {
    LF_ASSIGN_OR_RETURN(t->precision, internal::ParseEnum(*p, kPrecisionNames));
  }
  LF_ASSIGN_OR_RETURN(t->gradient_checkpointing,
                      f.BoolOr("gradient_checkpointing", t->gradient_checkpointing));
  return Status::Ok();
}

Json TrainSpecToJson(const TrainSpec& t) {
  return {{"steps", t.steps},
          {"batch_size", t.batch_size},
          {"grad_accum", t.grad_accum},
          {"lr", t.lr},
          {"schedule", ScheduleName(t.schedule)},
          {"warmup", t.warmup},
          {"weight_decay", t.weight_decay},
          {"max_grad_norm", t.max_grad_norm},
          {"seed", t.seed},
          {"eval_every", t.eval_every},
          {"eval_batches", t.eval_batches},
          {"checkpoint_every", t.checkpoint_every},
          {"log_every", t.log_every},
          {"precision", PrecisionName(t.precision)},
          {"gradient_checkpointing", t.gradient_checkpointing}};
}

}  // namespace lf::jobs
