// `lorafleet logs ID [-f]`: a trial's (or a whole sweep's) audit events and metric lines in time
// order; -f keeps polling until every trial involved reached a final state.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "cli/commands/command_flags.h"
#include "cli/commands/commands.h"
#include "cli/commands/remote.h"
#include "cli/commands/views.h"

namespace lf::cli {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(500);
// A failed trial may be retried (failed -> queued); following waits this long before believing
// the failure is the end.
constexpr auto kFailedSettle = std::chrono::seconds(5);
constexpr int kEventPage = 500;

struct Line {
  int64_t time_ms = 0;
  std::string text;
  Json json;  // for --json: the event or metric record
};

class LogFollower {
 public:
  LogFollower(const Coordinator& remote, std::string id, bool json)
      : remote_(remote),
        id_(std::move(id)),
        sweep_(ClassifyId(id_) == IdKind::kSweep),
        json_(json) {}

  // One round: new events and metrics printed; `done` is set when every trial is final.
  Status Poll(bool& done) {
    std::vector<Line> lines;
    LF_ASSIGN_OR_RETURN(Json trials, Trials());
    LF_RETURN_IF_ERROR(FetchEvents(lines));
    done = !trials.empty();
    const auto now = std::chrono::steady_clock::now();
    for (const Json& t : trials) {
      const std::string tid = StringMember(t, "id");
      const std::optional<jobs::TrialState> state = TrialStateOf(t);
      const bool failed = state == jobs::TrialState::kFailed;  // final unless retried
      // A trial that was final before this round's fetch has no new metrics to give.
      if (!drained_.count(tid)) LF_RETURN_IF_ERROR(FetchMetrics(tid, lines));
      if (state && jobs::IsFinal(*state)) drained_.insert(tid);
      if (!failed) failed_since_.erase(tid);
      if (!state || jobs::IsActive(*state)) {
        done = false;
      } else if (failed) {
        auto [it, fresh] = failed_since_.emplace(tid, now);
        if (now - it->second < kFailedSettle) done = false;
      }
    }
    std::stable_sort(lines.begin(), lines.end(),
                     [](const Line& a, const Line& b) { return a.time_ms < b.time_ms; });
    for (const Line& l : lines) {
      if (json_) {
        std::cout << l.json.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
      } else {
        std::cout << l.text << "\n";
      }
    }
    std::cout.flush();
    return Status::Ok();
  }

 private:
  // The trials involved with their states: the one trial, or all of the sweep's.
  Result<Json> Trials() {
    if (!sweep_) {
      LF_ASSIGN_OR_RETURN(Json reply, remote_.Get("/v1/trials/" + id_));
      return Json::array({Member(reply, "trial")});
    }
    LF_ASSIGN_OR_RETURN(Json reply, remote_.Get("/v1/sweeps/" + id_));
    const Json& trials = Member(reply, "trials");
    return trials.is_array() ? trials : Json::array();
  }

  Status FetchEvents(std::vector<Line>& lines) {
    while (true) {
      const std::string target = std::string("/v1/events?") + (sweep_ ? "sweep=" : "trial=") + id_ +
                                 "&after=" + std::to_string(last_seq_) +
                                 "&limit=" + std::to_string(kEventPage);
      LF_ASSIGN_OR_RETURN(Json reply, remote_.Get(target));
      const Json& events = Member(reply, "events");
      if (!events.is_array()) return Status::Ok();
      for (const Json& e : events) {
        last_seq_ = std::max(last_seq_, static_cast<int64_t>(NumberMember(e, "seq")));
        Json record = e;
        record["type"] = "event";
        lines.push_back({static_cast<int64_t>(NumberMember(e, "time_ms")), EventLine(e), record});
      }
      if (events.size() < static_cast<size_t>(kEventPage)) return Status::Ok();
    }
  }

  // New metric points of one trial, one line per step. The last step seen is asked for again
  // (a step's eval metrics can arrive after its training metrics); points already printed are
  // skipped.
  Status FetchMetrics(const std::string& trial_id, std::vector<Line>& lines) {
    int64_t& from = from_step_[trial_id];
    LF_ASSIGN_OR_RETURN(Json reply, remote_.Get("/v1/trials/" + trial_id +
                                                "/metrics?from_step=" + std::to_string(from)));
    const Json& points = Member(reply, "metrics");
    if (!points.is_array()) return Status::Ok();
    std::set<std::pair<int64_t, std::string>>& seen = seen_[trial_id];
    std::vector<std::vector<MetricPoint>> by_step;
    for (const Json& p : points) {
      MetricPoint m{trial_id, static_cast<int64_t>(NumberMember(p, "step")),
                    StringMember(p, "name"), NumberMember(p, "value"),
                    static_cast<int64_t>(NumberMember(p, "time_ms"))};
      if (!seen.insert({m.step, m.name}).second) continue;
      if (by_step.empty() || by_step.back().front().step != m.step) by_step.emplace_back();
      by_step.back().push_back(m);
      if (m.step > from) {
        // Points below the new start will not come back: forget them to keep `seen` small.
        seen.erase(seen.begin(), seen.lower_bound({m.step, ""}));
        from = m.step;
      }
    }
    for (const auto& group : by_step) {
      Json record = {{"type", "metrics"},
                     {"trial_id", trial_id},
                     {"step", group.front().step},
                     {"time_ms", group.front().time_ms},
                     {"values", Json::object()}};
      for (const MetricPoint& m : group) record["values"][m.name] = m.value;
      lines.push_back({group.front().time_ms, MetricLines(group, sweep_).front(), record});
    }
    return Status::Ok();
  }

  const Coordinator& remote_;
  const std::string id_;
  const bool sweep_;
  const bool json_;
  int64_t last_seq_ = 0;
  std::map<std::string, int64_t> from_step_;
  std::map<std::string, std::set<std::pair<int64_t, std::string>>> seen_;
  std::map<std::string, std::chrono::steady_clock::time_point> failed_since_;
  std::set<std::string> drained_;  // final trials whose metrics have all been printed
};

}  // namespace

int RunLogs(const std::vector<std::string>& args) {
  LogsFlags flags;
  AppPtr app = LogsApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  const std::string& id = flags.id;
  if (Status st = CheckId(id); !st.ok()) return ReportError("logs", st);
  Result<Coordinator> remote = ConnectFromFlags(flags.remote);
  if (!remote.ok()) return ReportFailure("logs", remote.status());
  LogFollower follower(*remote, id, flags.remote.json);
  const bool follow = flags.follow;
  while (true) {
    bool done = false;
    if (Status st = follower.Poll(done); !st.ok()) return ReportFailure("logs", st);
    if (!follow || done) return 0;
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace lf::cli
