#include "coordinator/api/routes.h"

#include <algorithm>
#include <charconv>

#include "coordinator/api/http_message.h"

namespace lf::api {
namespace {

using coordinator::Coordinator;

HttpResponse Reply(const Result<Json>& result, int ok_status = 200) {
  if (!result.ok()) return ErrorResponse(result.status());
  return JsonResponse(ok_status, *result);
}

// Who asks, for the audit log: the name of the token the request carried (the server checked
// it), else, on a daemon without tokens, the client's address. Never a header the client writes.
std::string Actor(const HttpRequest& request) {
  return request.user.empty() ? "peer:" + request.peer : "user:" + request.user;
}

// The sweep's owner: a user's token submits as that user; the operator's token (or a daemon
// without tokens) may name any owner, as a label, defaulting to itself.
Result<std::string> OwnerOf(const HttpRequest& request, const std::string& named) {
  if (request.user.empty() || request.user == kOperatorName) {
    return named.empty() ? (request.user.empty() ? request.peer : request.user) : named;
  }
  if (!named.empty() && named != request.user) {
    return FailedPrecondition("request.owner: the token is " + request.user +
                              "'s, which submits as " + request.user + ", not as '" + named +
                              "'; leave owner out, or use that user's token")
        .WithField("request.owner");
  }
  return request.user;
}

Result<Json> BodyJson(const HttpRequest& request) {
  if (request.body.empty()) return Json::object();
  LF_ASSIGN_OR_RETURN(Json body, ParseJson(request.body, "request body"));
  if (!body.is_object()) return InvalidArgument("request body: expected a JSON object");
  return body;
}

// ?key=N: a non-negative integer up to `max` (every list a request can ask for is bounded).
Result<int64_t> QueryInt(const HttpRequest& request, const std::string& key, int64_t fallback,
                         int64_t max) {
  auto it = request.query.find(key);
  if (it == request.query.end()) return fallback;
  int64_t value = 0;
  const auto* end = it->second.data() + it->second.size();
  auto [ptr, ec] = std::from_chars(it->second.data(), end, value);
  if (ec != std::errc() || ptr != end || value < 0 || value > max) {
    return InvalidArgument("query " + key + ": expected an integer from 0 to " +
                           std::to_string(max) + ", got '" + it->second + "'")
        .WithField(key);
  }
  return value;
}

HttpResponse Submit(Coordinator& c, const HttpRequest& request) {
  auto body = BodyJson(request);
  if (!body.ok()) return ErrorResponse(body.status());
  JsonField root(*body, FieldPath("request"));
  if (Status st = root.CheckKeys({"spec", "base_dir", "source", "owner"}); !st.ok()) {
    return ErrorResponse(st);
  }
  coordinator::SubmitRequest submit;
  auto spec = root.StringAt("spec");
  if (!spec.ok()) return ErrorResponse(spec.status(), "spec");
  submit.spec = *spec;
  auto base_dir = root.StringOr("base_dir", "");
  auto source = root.StringOr("source", "");
  auto owner = root.StringOr("owner", "");
  for (const auto* r : {&base_dir, &source, &owner}) {
    if (!r->ok()) return ErrorResponse(r->status());
  }
  submit.base_dir = *base_dir;
  submit.source = *source;
  auto resolved_owner = OwnerOf(request, *owner);
  if (!resolved_owner.ok()) return ErrorResponse(403, resolved_owner.status().message(), "owner");
  submit.owner = *resolved_owner;
  submit.actor = Actor(request);
  auto result = c.Submit(submit);
  if (!result.ok()) return ErrorResponse(result.status());
  return JsonResponse(201, *result);
}

HttpResponse Metrics(Coordinator& c, const HttpRequest& request) {
  auto from = QueryInt(request, "from_step", 0, INT64_MAX);
  auto limit = QueryInt(request, "limit", 100000, 100000);
  if (!from.ok()) return ErrorResponse(from.status());
  if (!limit.ok()) return ErrorResponse(limit.status());
  store::MetricQuery query{.from_step = *from, .limit = static_cast<size_t>(*limit)};
  if (auto it = request.query.find("name"); it != request.query.end()) query.name = it->second;
  auto points = c.store().ReadMetrics(request.params.at("id"), query);
  if (!points.ok()) return ErrorResponse(points.status());
  Json list = Json::array();
  for (const auto& p : *points) {
    list.push_back({{"step", p.step}, {"name", p.name}, {"value", p.value}, {"time_ms", p.time_ms}});
  }
  return JsonResponse(200, {{"metrics", std::move(list)}});
}

HttpResponse Events(Coordinator& c, const HttpRequest& request) {
  auto after = QueryInt(request, "after", 0, INT64_MAX);
  auto limit = QueryInt(request, "limit", 1000, 10000);
  if (!after.ok()) return ErrorResponse(after.status());
  if (!limit.ok()) return ErrorResponse(limit.status());
  store::EventQuery query{.after_seq = static_cast<uint64_t>(*after),
                          .limit = static_cast<size_t>(*limit)};
  if (auto it = request.query.find("trial"); it != request.query.end()) query.trial_id = it->second;
  std::string sweep;
  if (auto it = request.query.find("sweep"); it != request.query.end()) sweep = it->second;
  // A sweep's events are filtered from the global log, a page at a time, and at most
  // kMaxScannedPages pages per request: the client goes on from last_seq.
  constexpr int kMaxScannedPages = 64;
  Json list = Json::array();
  uint64_t last = query.after_seq;
  for (int page = 0; page < kMaxScannedPages && list.size() < query.limit; ++page) {
    auto events = c.store().ReadEvents(query);
    if (!events.ok()) return ErrorResponse(events.status());
    for (const auto& e : *events) {
      last = e.seq;
      if (!sweep.empty() && e.sweep_id != sweep) continue;
      list.push_back({{"seq", e.seq}, {"time_ms", e.time_ms}, {"actor", e.actor},
                      {"kind", e.kind}, {"sweep_id", e.sweep_id}, {"trial_id", e.trial_id},
                      {"detail", e.detail}});
      if (list.size() >= query.limit) break;
    }
    if (events->size() < query.limit || sweep.empty()) break;
    query.after_seq = last;
  }
  return JsonResponse(200, {{"events", std::move(list)}, {"last_seq", last}});
}

HttpResponse AdapterFiles(Coordinator& c, const HttpRequest& request) {
  auto files = c.store().ListAdapterFiles(request.params.at("id"));
  if (!files.ok()) return ErrorResponse(files.status());
  if (files->empty()) {
    auto trial = c.store().GetTrial(request.params.at("id"));
    if (!trial.ok()) return ErrorResponse(trial.status());
    return ErrorResponse(404, "trial " + trial->id + " has no adapter yet (it is " +
                                  std::string(jobs::TrialStateName(trial->state)) + ")");
  }
  Json list = Json::array();
  for (const auto& f : *files) {
    list.push_back({{"name", f.name}, {"size", f.size}, {"sha256", f.sha256}});
  }
  return JsonResponse(200, {{"files", std::move(list)}});
}

HttpResponse AdapterFile(Coordinator& c, const HttpRequest& request) {
  const std::string& name = request.params.at("name");
  auto bytes = c.store().GetAdapterFile(request.params.at("id"), name);
  if (!bytes.ok()) return ErrorResponse(bytes.status());
  HttpResponse response{.status = 200,
                        .content_type = "application/octet-stream",
                        .body = std::move(bytes).value()};
  response.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + "\"");
  return response;
}

}  // namespace

void AddApiRoutes(Router& router, Coordinator& c, std::function<void()> after_request) {
  auto add = [&](const char* method, const char* pattern, Handler handler) {
    router.Add(method, pattern, [handler = std::move(handler), after_request](const HttpRequest& r) {
      HttpResponse response = handler(r);
      if (after_request) after_request();
      return response;
    });
  };
  add("GET", "/v1/health", [&c](const HttpRequest&) {
    return JsonResponse(200, c.HealthView());
  });
  // Prometheus scrapes this path by default; the format is its text exposition 0.0.4.
  add("GET", "/metrics", [&c](const HttpRequest&) {
    HttpResponse response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = c.PrometheusMetrics();
    return response;
  });
  add("POST", "/v1/sweeps", [&c](const HttpRequest& r) { return Submit(c, r); });
  add("GET", "/v1/sweeps", [&c](const HttpRequest&) { return Reply(c.ListSweepsView()); });
  add("GET", "/v1/sweeps/{id}", [&c](const HttpRequest& r) {
    return Reply(c.SweepView(r.params.at("id")));
  });
  add("GET", "/v1/sweeps/{id}/compare", [&c](const HttpRequest& r) {
    return Reply(c.CompareView({r.params.at("id")}));
  });
  add("GET", "/v1/compare", [&c](const HttpRequest& r) {  // ?sweeps=ID,ID,...
    std::vector<std::string> ids;
    if (auto it = r.query.find("sweeps"); it != r.query.end()) {
      for (size_t start = 0; start <= it->second.size();) {
        const size_t comma = std::min(it->second.find(',', start), it->second.size());
        if (comma > start) ids.push_back(it->second.substr(start, comma - start));
        start = comma + 1;
      }
    }
    if (ids.empty()) return ErrorResponse(400, "name the sweeps: /v1/compare?sweeps=ID,ID", "sweeps");
    return Reply(c.CompareView(ids));
  });
  add("POST", "/v1/sweeps/{id}/cancel", [&c](const HttpRequest& r) {
    return Reply(c.CancelSweep(r.params.at("id"), Actor(r)));
  });
  add("POST", "/v1/sweeps/{id}/pause", [&c](const HttpRequest& r) {
    return Reply(c.PauseSweep(r.params.at("id"), Actor(r)));
  });
  add("POST", "/v1/sweeps/{id}/resume", [&c](const HttpRequest& r) {
    return Reply(c.ResumeSweep(r.params.at("id"), Actor(r)));
  });
  add("POST", "/v1/sweeps/{id}/priority", [&c](const HttpRequest& r) {
    auto body = BodyJson(r);
    if (!body.ok()) return ErrorResponse(body.status());
    JsonField root(*body, FieldPath("request"));
    auto priority = root.IntAt("priority", {.min = INT32_MIN, .max = INT32_MAX});
    if (!priority.ok()) return ErrorResponse(priority.status(), "priority");
    return Reply(c.SetSweepPriority(r.params.at("id"), static_cast<int32_t>(*priority), Actor(r)));
  });
  add("GET", "/v1/trials", [&c](const HttpRequest& r) {
    std::optional<std::string> sweep;
    if (auto it = r.query.find("sweep"); it != r.query.end()) sweep = it->second;
    std::vector<jobs::TrialState> states;
    if (auto it = r.query.find("state"); it != r.query.end()) {
      auto state = jobs::ParseTrialState(it->second);
      if (!state.ok()) return ErrorResponse(state.status(), "state");
      states.push_back(*state);
    }
    auto limit = QueryInt(r, "limit", 100000, 100000);
    if (!limit.ok()) return ErrorResponse(limit.status());
    return Reply(c.TrialsView(sweep, states, static_cast<size_t>(*limit)));
  });
  add("GET", "/v1/trials/{id}", [&c](const HttpRequest& r) {
    return Reply(c.TrialView(r.params.at("id")));
  });
  add("POST", "/v1/trials/{id}/cancel", [&c](const HttpRequest& r) {
    return Reply(c.CancelTrial(r.params.at("id"), Actor(r)));
  });
  add("POST", "/v1/trials/{id}/tag", [&c](const HttpRequest& r) {
    auto body = BodyJson(r);
    if (!body.ok()) return ErrorResponse(body.status());
    JsonField root(*body, FieldPath("request"));
    auto name = root.StringAt("name");
    if (!name.ok()) return ErrorResponse(name.status(), "name");
    return Reply(c.TagTrial(r.params.at("id"), *name, Actor(r)));
  });
  add("GET", "/v1/adapters", [&c](const HttpRequest& r) {
    std::optional<std::string> tag;
    if (auto it = r.query.find("tag"); it != r.query.end()) tag = it->second;
    return Reply(c.AdaptersView(tag));
  });
  add("GET", "/v1/trials/{id}/metrics", [&c](const HttpRequest& r) { return Metrics(c, r); });
  add("GET", "/v1/trials/{id}/adapter",
             [&c](const HttpRequest& r) { return AdapterFiles(c, r); });
  add("GET", "/v1/trials/{id}/adapter/{name}",
             [&c](const HttpRequest& r) { return AdapterFile(c, r); });
  add("GET", "/v1/events", [&c](const HttpRequest& r) { return Events(c, r); });
  add("GET", "/v1/queue", [&c](const HttpRequest& r) {
    auto limit = QueryInt(r, "limit", 1000, 100000);
    if (!limit.ok()) return ErrorResponse(limit.status());
    return JsonResponse(200, c.QueueView(static_cast<size_t>(*limit)));
  });
  add("GET", "/v1/workers", [&c](const HttpRequest&) {
    return JsonResponse(200, c.WorkersView());
  });
}

}  // namespace lf::api
