#include "jobs/protocol.h"

#include <type_traits>
#include <utility>

namespace lf::protocol {
namespace {

// The JSON frame's "type" for each alternative, in variant order.
constexpr std::string_view kTypeNames[] = {"HELLO", "HEARTBEAT", "WELCOME", "ASSIGN", "PROGRESS",
                                           "CHECKPOINT", "DONE", "FAILED", "STOP"};
static_assert(std::size(kTypeNames) == std::variant_size_v<Message>);

Json RunningToJson(const std::vector<RunningTrial>& running) {
  Json list = Json::array();
  for (const auto& r : running) {
    list.push_back({{"trial_id", r.trial_id}, {"attempt", r.attempt}, {"step", r.step}});
  }
  return list;
}

void ToJson(const Hello& m, Json& j) {
  j["worker_id"] = m.worker_id;
  j["rank"] = m.rank;
  j["world_size"] = m.world_size;
  j["local_rank"] = m.local_rank;
  j["host"] = m.host;
  j["pid"] = m.pid;
  j["device"] = m.device;
  j["memory_bytes"] = m.memory_bytes;
  j["running"] = RunningToJson(m.running);
  j["tokens_per_s"] = m.tokens_per_s;
}
void ToJson(const Welcome& m, Json& j) { j["heartbeat_interval_ms"] = m.heartbeat_interval_ms; }
void ToJson(const Assign& m, Json& j) {
  j["trial_id"] = m.trial_id;
  j["attempt"] = m.attempt;
  j["job"] = jobs::JobSpecToJson(m.job);
  if (!m.pack_key.empty()) j["pack_key"] = m.pack_key;
  if (!m.gang_ranks.empty()) {
    j["gang_ranks"] = m.gang_ranks;
    j["gang_tag"] = m.gang_tag;
  }
}
void ToJson(const Progress& m, Json& j) {
  j["trial_id"] = m.trial_id;
  j["attempt"] = m.attempt;
  Json list = Json::array();
  for (const auto& v : m.metrics) list.push_back({v.step, v.name, v.value, v.time_ms});
  j["metrics"] = std::move(list);  // [step, name, value, time_ms] rows: compact for long runs
}
void ToJson(const Checkpoint& m, Json& j) {
  j["trial_id"] = m.trial_id;
  j["attempt"] = m.attempt;
  j["step"] = m.step;
  j["path"] = m.path;
}
void ToJson(const Done& m, Json& j) {
  j["trial_id"] = m.trial_id;
  j["attempt"] = m.attempt;
  j["result"] = jobs::TrialResultToJson(m.result);
  Json names = Json::array();
  for (const auto& f : m.files) names.push_back(f.name);
  j["files"] = std::move(names);
}
void ToJson(const Failed& m, Json& j) {
  j["trial_id"] = m.trial_id;
  j["attempt"] = m.attempt;
  j["reason"] = m.reason;
  j["retryable"] = m.retryable;
  j["interrupted"] = m.interrupted;
  j["step"] = m.step;
}
void ToJson(const Stop& m, Json& j) {
  j["trial_id"] = m.trial_id;
  j["attempt"] = m.attempt;
  j["reason"] = m.reason;
  j["finish"] = m.finish;
}

Result<uint32_t> Attempt(const JsonField& f) {
  LF_ASSIGN_OR_RETURN(int64_t a, f.IntAt("attempt", {.min = 0, .max = UINT32_MAX}));
  return static_cast<uint32_t>(a);
}

Status FromJson(const JsonField& f, Hello& m) {
  LF_ASSIGN_OR_RETURN(m.worker_id, f.StringAt("worker_id"));
  if (m.worker_id.empty()) return f.Error("worker_id: empty");
  LF_ASSIGN_OR_RETURN(int64_t rank, f.IntAt("rank", {.min = 0, .max = INT32_MAX}));
  LF_ASSIGN_OR_RETURN(int64_t world, f.IntAt("world_size", {.min = 1, .max = INT32_MAX}));
  LF_ASSIGN_OR_RETURN(int64_t local, f.IntAt("local_rank", {.min = 0, .max = INT32_MAX}));
  m.rank = static_cast<int32_t>(rank);
  m.world_size = static_cast<int32_t>(world);
  m.local_rank = static_cast<int32_t>(local);
  LF_ASSIGN_OR_RETURN(m.host, f.StringAt("host"));
  LF_ASSIGN_OR_RETURN(m.pid, f.IntAt("pid", {.min = 0}));
  LF_ASSIGN_OR_RETURN(m.device, f.StringAt("device"));
  LF_ASSIGN_OR_RETURN(m.memory_bytes, f.IntAt("memory_bytes", {.min = 0}));
  LF_ASSIGN_OR_RETURN(m.tokens_per_s, f.NumberOr("tokens_per_s", 0, {.min = 0}));
  LF_ASSIGN_OR_RETURN(JsonField running, f.Required("running"));
  LF_ASSIGN_OR_RETURN(auto elements, running.Elements());
  for (const auto& e : elements) {
    RunningTrial r;
    LF_ASSIGN_OR_RETURN(r.trial_id, e.StringAt("trial_id"));
    LF_ASSIGN_OR_RETURN(r.attempt, Attempt(e));
    LF_ASSIGN_OR_RETURN(r.step, e.IntOr("step", 0, {.min = 0}));
    m.running.push_back(std::move(r));
  }
  return Status::Ok();
}
Status FromJson(const JsonField& f, Welcome& m) {
  LF_ASSIGN_OR_RETURN(m.heartbeat_interval_ms, f.IntAt("heartbeat_interval_ms", {.min = 1}));
  return Status::Ok();
}
Status FromJson(const JsonField& f, Assign& m) {
  LF_ASSIGN_OR_RETURN(m.trial_id, f.StringAt("trial_id"));
  LF_ASSIGN_OR_RETURN(m.attempt, Attempt(f));
  LF_ASSIGN_OR_RETURN(JsonField job, f.Required("job"));
  LF_ASSIGN_OR_RETURN(m.job, jobs::ParseJobSpec(job.json(), job.path().str()));
  LF_ASSIGN_OR_RETURN(m.pack_key, f.StringOr("pack_key", ""));
  if (std::optional<JsonField> ranks = f.Optional("gang_ranks")) {
    LF_ASSIGN_OR_RETURN(auto elements, ranks->Elements());
    for (const JsonField& e : elements) {
      LF_ASSIGN_OR_RETURN(int64_t rank, e.Int({.min = 0, .max = INT32_MAX}));
      if (!m.gang_ranks.empty() && rank <= m.gang_ranks.back()) {
        return e.Error("expected ascending MPI ranks");
      }
      m.gang_ranks.push_back(static_cast<int32_t>(rank));
    }
    LF_ASSIGN_OR_RETURN(int64_t tag, f.IntAt("gang_tag", {.min = 0, .max = INT32_MAX}));
    m.gang_tag = static_cast<int32_t>(tag);
  }
  return Status::Ok();
}
Status FromJson(const JsonField& f, Progress& m) {
  LF_ASSIGN_OR_RETURN(m.trial_id, f.StringAt("trial_id"));
  LF_ASSIGN_OR_RETURN(m.attempt, Attempt(f));
  LF_ASSIGN_OR_RETURN(JsonField metrics, f.Required("metrics"));
  LF_ASSIGN_OR_RETURN(auto rows, metrics.Elements());
  m.metrics.reserve(rows.size());
  for (const auto& row : rows) {
    const Json& r = row.json();
    if (!r.is_array() || r.size() != 4 || !r[0].is_number_integer() || !r[1].is_string() ||
        !r[2].is_number() || !r[3].is_number_integer()) {
      return row.Error("expected [step, name, value, time_ms]");
    }
    m.metrics.push_back({r[0].get<int64_t>(), r[1].get<std::string>(), r[2].get<double>(),
                         r[3].get<int64_t>()});
  }
  return Status::Ok();
}
Status FromJson(const JsonField& f, Checkpoint& m) {
  LF_ASSIGN_OR_RETURN(m.trial_id, f.StringAt("trial_id"));
  LF_ASSIGN_OR_RETURN(m.attempt, Attempt(f));
  LF_ASSIGN_OR_RETURN(m.step, f.IntAt("step", {.min = 0}));
  LF_ASSIGN_OR_RETURN(m.path, f.StringAt("path"));
  return Status::Ok();
}
Status FromJson(const JsonField& f, Done& m) {
  LF_ASSIGN_OR_RETURN(m.trial_id, f.StringAt("trial_id"));
  LF_ASSIGN_OR_RETURN(m.attempt, Attempt(f));
  LF_ASSIGN_OR_RETURN(JsonField result, f.Required("result"));
  LF_ASSIGN_OR_RETURN(m.result, jobs::ParseTrialResult(result.json(), result.path().str()));
  LF_ASSIGN_OR_RETURN(JsonField files, f.Required("files"));
  LF_ASSIGN_OR_RETURN(std::vector<std::string> names, files.StringList());
  for (auto& name : names) m.files.push_back({std::move(name), {}});
  return Status::Ok();
}
Status FromJson(const JsonField& f, Failed& m) {
  LF_ASSIGN_OR_RETURN(m.trial_id, f.StringAt("trial_id"));
  LF_ASSIGN_OR_RETURN(m.attempt, Attempt(f));
  LF_ASSIGN_OR_RETURN(m.reason, f.StringAt("reason"));
  LF_ASSIGN_OR_RETURN(m.retryable, f.BoolOr("retryable", false));
  LF_ASSIGN_OR_RETURN(m.interrupted, f.BoolOr("interrupted", false));
  LF_ASSIGN_OR_RETURN(m.step, f.IntOr("step", 0, {.min = 0}));
  return Status::Ok();
}
Status FromJson(const JsonField& f, Stop& m) {
  LF_ASSIGN_OR_RETURN(m.trial_id, f.StringAt("trial_id"));
  LF_ASSIGN_OR_RETURN(m.attempt, Attempt(f));
  LF_ASSIGN_OR_RETURN(m.reason, f.StringOr("reason", ""));
  LF_ASSIGN_OR_RETURN(m.finish, f.BoolOr("finish", false));
  return Status::Ok();
}

// Builds the alternative whose type name is `type`; the index walk keeps names and variant order
// in one place (kTypeNames).
template <size_t I = 0>
Result<Message> DecodeAs(std::string_view type, const JsonField& f) {
  if constexpr (I == std::variant_size_v<Message>) {
    return f.Error("type: unknown message type '" + std::string(type) + "'");
  } else {
    if (type != kTypeNames[I]) return DecodeAs<I + 1>(type, f);
    std::variant_alternative_t<I, Message> m;
    if constexpr (std::is_same_v<decltype(m), Heartbeat>) {
      LF_RETURN_IF_ERROR(FromJson(f, static_cast<Hello&>(m)));
    } else {
      LF_RETURN_IF_ERROR(FromJson(f, m));
    }
    return Message(std::in_place_index<I>, std::move(m));
  }
}

}  // namespace

std::string_view MessageTypeName(const Message& message) { return kTypeNames[message.index()]; }

std::vector<std::string> Encode(const Message& message) {
  Json j = {{"v", kProtocolVersion}, {"type", MessageTypeName(message)}};
  std::vector<std::string> frames(1);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Heartbeat>) {
          ToJson(static_cast<const Hello&>(m), j);
        } else {
          ToJson(m, j);
        }
        if constexpr (std::is_same_v<T, Done>) {
          for (const auto& file : m.files) frames.push_back(file.bytes);
        }
      },
      message);
  frames[0] = j.dump();
  return frames;
}

Result<Message> Decode(std::vector<std::string> frames) {
  if (frames.empty()) return InvalidArgument("protocol: empty message (no frames)");
  LF_ASSIGN_OR_RETURN(Json j, ParseJson(frames[0], "protocol message"));
  JsonField root(j, FieldPath("message"));
  if (!root.IsObject()) return root.Error("expected a JSON object");
  LF_ASSIGN_OR_RETURN(int64_t version, root.IntAt("v"));
  if (version != kProtocolVersion) {
    return FailedPrecondition("protocol version " + std::to_string(version) +
                              " is not this build's version " +
                              std::to_string(kProtocolVersion) +
                              "; run the same lorafleet version on the coordinator and workers");
  }
  LF_ASSIGN_OR_RETURN(std::string type, root.StringAt("type"));
  LF_ASSIGN_OR_RETURN(Message message, DecodeAs(type, JsonField(j, FieldPath(type))));
  if (auto* done = std::get_if<Done>(&message)) {
    if (frames.size() != done->files.size() + 1) {
      return InvalidArgument("DONE for " + done->trial_id + " names " +
                             std::to_string(done->files.size()) + " files but carries " +
                             std::to_string(frames.size() - 1) + " binary frames");
    }
    for (size_t i = 0; i < done->files.size(); ++i) done->files[i].bytes = std::move(frames[i + 1]);
  } else if (frames.size() != 1) {
    return InvalidArgument(std::string(type) + " carries " + std::to_string(frames.size() - 1) +
                           " unexpected binary frames");
  }
  return message;
}

}  // namespace lf::protocol
