// Fuzz target: the coordinator's HTTP request path. The input is what a client writes on one
// keep-alive connection: Beast's request parser reads requests from it with the server's limits,
// each becomes an HttpRequest as a Session makes it (internal::ToHttpRequest) and goes to a router
// with every API and dashboard route, over a Coordinator on the in-memory store, as the daemon
// builds it. Each input starts from the same state: a sweep of two trials, one completed with an
// adapter, one running; "$S", "$T" and "$Q" in the input stand for their ids, so seeds can reach
// every handler with ids that exist. Invariants: no handler throws (a 500 is a bug here: the
// memory store does not fail), every status is 200-599, and every JSON reply is valid JSON.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/beast/http.hpp>

#include "common/logging.h"
#include "coordinator/api/http_session.h"
#include "coordinator/api/routes.h"
#include "coordinator/coordinator.h"
#include "coordinator/dashboard/dashboard.h"
#include "coordinator/store/memory_store.h"

namespace {

namespace http = boost::beast::http;
using lf::coordinator::Coordinator;

constexpr int kMaxRequests = 8;  // per input; a longer pipeline adds no new code paths
constexpr std::string_view kToken = "fuzz-token";

class KeepLastAssign : public lf::coordinator::WorkerSink {
 public:
  void Send(const std::string&, const lf::protocol::Message& message) override {
    if (auto* assign = std::get_if<lf::protocol::Assign>(&message)) last = *assign;
  }
  lf::protocol::Assign last;
};

// A daemon's worth of state: built fresh for every input, so each input is replayed alone.
struct Fleet {
  Fleet() {
    store = lf::store::NewMemoryStore(&clock);
    auto created = Coordinator::Create(*store, sink, clock,
                                       {.runs_dir = "/nonexistent/runs", .check_paths = false});
    LF_CHECK_OK(created);
    coordinator = std::move(created).value();
    auto submitted = coordinator->Submit(
        {.spec = "name: fuzz\nbase:\n  base_model: m\n  data: {train: t.jsonl}\n"
                 "  train: {steps: 10}\nspace:\n  lora.r: [1, 2]\n",
         .base_dir = "/fuzz",
         .owner = "alice"});
    LF_CHECK_OK(submitted);
    sweep = (*submitted)["sweep"]["id"].get<std::string>();
    // One worker with room for one trial: it gets trial 0 and reports it done.
    coordinator->OnMessage("w1", lf::protocol::Hello{.worker_id = "w1", .host = "h",
                                                     .device = "cpu", .memory_bytes = 1LL << 33});
    coordinator->Flush();
    const lf::protocol::Assign assign = sink.last;
    LF_CHECK(!assign.trial_id.empty());
    lf::jobs::TrialResult result{.eval_loss = 1.5, .trainable_params = 10};
    result.job = assign.job;
    coordinator->OnMessage(
        "w1", lf::protocol::Done{.trial_id = assign.trial_id,
                                 .attempt = assign.attempt,
                                 .result = result,
                                 .files = {{"adapter_model.safetensors", "weights"},
                                           {"result.json",
                                            lf::jobs::TrialResultToJson(result).dump()}}});
    coordinator->Flush();
    done_trial = assign.trial_id;
    running_trial = lf::MakeTrialId(sweep, assign.trial_id == lf::MakeTrialId(sweep, 0) ? 1 : 0);
    lf::api::AddApiRoutes(router, *coordinator, {});
    lf::dashboard::AddDashboardRoutes(router);
  }

  lf::FakeClock clock;
  KeepLastAssign sink;
  std::unique_ptr<lf::store::ExperimentStore> store;
  std::unique_ptr<Coordinator> coordinator;
  lf::api::Router router;
  // As the daemon admits requests: the operator's token and a user's, and its host names.
  const lf::api::AccessPolicy access{
      .tokens = {{std::string(kToken), "operator"}, {"alice-token", "alice"}},
      .hosts = {"localhost", "fuzz-host"}};
  std::string sweep, done_trial, running_trial;
};

std::string ReplaceAll(std::string text, std::string_view from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

void CheckResponse(const lf::api::HttpResponse& response, const lf::api::HttpRequest& request) {
  const std::string what = request.method + " " + request.path;
  LF_CHECK_MSG(response.status >= 200 && response.status <= 599,
               what + ": status " + std::to_string(response.status));
  LF_CHECK_MSG(response.status != 500, what + ": internal error: " + response.body);
  if (response.content_type == "application/json") {
    LF_CHECK_MSG(lf::ParseJson(response.body, "reply").ok(), what + ": reply is not JSON");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The coordinator logs every submission and transition; at millions of inputs that is the cost.
  static const bool quiet = [] {
    lf::log::SetLevel(lf::log::Level::kOff);
    return true;
  }();
  (void)quiet;
  // Building the fleet is most of an input's time, and the coordinator's views are const: after
  // an input whose requests were all reads (GET) the next input starts from the same fleet.
  static std::unique_ptr<Fleet> kept;
  static bool changed = true;
  if (changed || kept == nullptr) {
    kept.reset();
    kept = std::make_unique<Fleet>();
    changed = false;
  }
  Fleet& fleet = *kept;
  std::string input(reinterpret_cast<const char*>(data), size);
  input = ReplaceAll(std::move(input), "$S", fleet.sweep);
  input = ReplaceAll(std::move(input), "$T", fleet.done_trial);
  input = ReplaceAll(std::move(input), "$Q", fleet.running_trial);

  std::string_view rest = input;
  for (int i = 0; i < kMaxRequests && !rest.empty(); ++i) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(lf::api::internal::kHeaderLimit);
    parser.body_limit(lf::api::HttpServerOptions{}.max_body_bytes);
    parser.eager(true);
    boost::beast::error_code ec;
    while (!rest.empty() && !parser.is_done()) {
      const size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
      rest.remove_prefix(used);
      if (ec || used == 0) break;
    }
    // A malformed request gets a 400 (or 413, 431) from the session and the connection closes;
    // an incomplete one waits for more bytes until the timeout.
    if (ec || !parser.is_done()) return 0;
    auto message = parser.release();
    lf::api::HttpRequest request;
    if (!lf::api::internal::ToHttpRequest(message, "127.0.0.1:40000", request).ok()) return 0;
    if (std::optional<lf::api::HttpResponse> refused = lf::api::Admit(fleet.access, request)) {
      CheckResponse(*refused, request);  // the session answers it and closes the connection
      return 0;
    }
    request.body = std::move(message.body());
    if (request.method != "GET") changed = true;
    const lf::api::HttpRequest copy = request;
    CheckResponse(fleet.router.Dispatch(std::move(request)), copy);
    if (!message.keep_alive()) return 0;
  }
  return 0;
}
