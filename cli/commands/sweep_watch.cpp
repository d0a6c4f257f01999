#include "cli/commands/sweep_watch.h"

#include <algorithm>

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <thread>

#include "cli/commands/views.h"

namespace lf::cli {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(700);
// How long the coordinator may stay unreachable (e.g. restarting) before waiting gives up.
constexpr auto kUnreachableLimit = std::chrono::seconds(60);
// A sweep whose trials are all final but whose state is not yet (the coordinator may still retry
// failed ones) is treated as done after this long.
constexpr auto kSettleTime = std::chrono::seconds(10);

volatile std::sig_atomic_t g_interrupted = 0;

size_t TerminalWidth() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10) return ws.ws_col - 1;
  return 119;
}

// The live block on a terminal: erased and redrawn under any new transition lines.
class LiveBlock {
 public:
  void Redraw(const std::vector<std::string>& above, const std::vector<std::string>& block) {
    Erase();
    for (const std::string& line : above) std::printf("%s\n", line.c_str());
    for (const std::string& line : block) std::printf("%s\n", line.c_str());
    drawn_ = block.size();
    std::fflush(stdout);
  }
  void Erase() {
    if (drawn_ > 0) std::printf("\033[%zuA\r\033[J", drawn_);
    drawn_ = 0;
  }

 private:
  size_t drawn_ = 0;
};

bool AllTrialsFinal(const Json& reply) {
  const Json& trials = Member(reply, "trials");
  if (!trials.is_array()) return false;
  for (const Json& t : trials) {
    const std::optional<jobs::TrialState> state = TrialStateOf(t);
    if (!state || jobs::IsActive(*state)) return false;
  }
  return true;
}

// Early-stopped trials count: stopping them is what the sweep asked for.
bool AllTrialsCompleted(const Json& reply) {
  const Json& trials = Member(reply, "trials");
  if (!trials.is_array() || trials.empty()) return false;
  for (const Json& t : trials) {
    const std::optional<jobs::TrialState> state = TrialStateOf(t);
    if (!state || !jobs::HasAdapter(*state)) return false;
  }
  return true;
}

// The newest loss of each running trial, fetched incrementally (from the step after the last one
// seen), so a poll costs one small request per running trial.
void UpdateLoss(const Coordinator& remote, const Json& reply, std::map<std::string, double>& loss,
                std::map<std::string, int64_t>& next_step) {
  const Json& trials = Member(reply, "trials");
  if (!trials.is_array()) return;
  for (const Json& t : trials) {
    if (StringMember(t, "state") != "running") continue;
    const std::string id = StringMember(t, "id");
    Result<Json> metrics = remote.Get(
        "/v1/trials/" + id + "/metrics?name=loss&from_step=" + std::to_string(next_step[id]));
    if (!metrics.ok()) continue;  // progress is best effort; the next poll tries again
    const Json& points = Member(*metrics, "metrics");
    if (!points.is_array()) continue;
    for (const Json& p : points) {
      const auto step = static_cast<int64_t>(NumberMember(p, "step"));
      if (StringMember(p, "name") != "loss" || step < next_step[id]) continue;
      loss[id] = NumberMember(p, "value");
      next_step[id] = step + 1;
    }
  }
}

}  // namespace

void PrintComparison(const Json& reply) {
  const Json& sweeps = Member(reply, "sweeps");
  for (const Json& sweep : sweeps.is_array() ? sweeps : Json::array({Member(reply, "sweep")})) {
    std::cout << "sweep " << StringMember(sweep, "id") << " \"" << StringMember(sweep, "name")
              << "\" (" << StringMember(sweep, "state", "?")
              << "): " << CountsLine(Member(sweep, "counts")) << "\n";
  }
  const Json& rows = Member(reply, "rows");
  if (!rows.is_array() || rows.empty()) {
    std::cout << "no trials to compare\n";
    return;
  }
  std::cout << CompareTable(rows, /*raw=*/false).RenderText();
  // The front column weighs quality against size unless the sweep states its objectives.
  if (const Json& objectives = Member(reply, "front_objectives");
      objectives.is_object() && objectives != Json{{"adapter_bytes", "min"}, {"eval_loss", "min"}}) {
    std::string listed;
    for (const auto& [name, mode] : objectives.items()) {
      listed += (listed.empty() ? "" : ", ") + name + " (" + (mode.is_string() ? mode.get<std::string>() : "") + ")";
    }
    std::cout << "front: the Pareto front of " << listed << "\n";
  }
  // Said once per distinct reason, with the trials it concerns.
  std::vector<std::pair<std::string, std::string>> serving;  // (reason, trials)
  for (const Json& row : rows) {
    const Json& warnings = Member(row, "serving_warnings");
    if (!warnings.is_array()) continue;
    for (const Json& w : warnings) {
      if (!w.is_string()) continue;
      auto it = std::find_if(serving.begin(), serving.end(),
                             [&](const auto& s) { return s.first == w.get<std::string>(); });
      if (it == serving.end()) {
        serving.emplace_back(w.get<std::string>(), StringMember(row, "trial_id"));
      } else {
        it->second += ", " + StringMember(row, "trial_id");
      }
    }
  }
  for (const auto& [reason, trials] : serving) {
    std::cout << "serving: " << reason << " (" << trials << ")\n";
  }
  if (const Json& repeats = Member(reply, "repeats"); repeats.is_array() && !repeats.empty()) {
    std::cout << "\nrepeats (configurations run with several seeds; 'worse': Welch's t-test at "
                 "5% against the best):\n"
              << RepeatsTable(repeats).RenderText();
  }
}

int WatchSweep(const Coordinator& remote, const Json& submitted, WatchOptions options) {
  const std::string id = StringMember(Member(submitted, "sweep"), "id");
  const bool live = !options.json;
  const bool tty = live && ::isatty(STDOUT_FILENO) != 0;
  std::map<std::string, std::string> states;
  if (const Json& trials = Member(submitted, "trials"); trials.is_array()) {
    for (const Json& t : trials) states[StringMember(t, "id")] = StringMember(t, "state");
  }
  std::map<std::string, double> loss;
  std::map<std::string, int64_t> next_step;
  LiveBlock block;
  g_interrupted = 0;
  auto previous_handler = std::signal(SIGINT, [](int) { g_interrupted = 1; });
  using Clock = std::chrono::steady_clock;
  // Zero (the clock's epoch) while the condition does not hold. (Not std::optional: GCC 12 warns
  // that its value may be used uninitialized.)
  Clock::time_point unreachable_since{}, all_final_since{};
  const Clock::time_point kUnset{};
  Json reply = submitted;
  if (live && !tty)
    std::cout << "waiting for sweep " << id << " (" << states.size() << " trials)\n";
  int rc = -1;
  bool gave_up = false;  // the coordinator failed or stayed unreachable: no comparison to print
  while (rc < 0) {
    Result<Json> polled = remote.Get("/v1/sweeps/" + id);
    if (!polled.ok()) {
      const StatusCode code = polled.status().code();
      const bool transient =
          code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded;
      if (unreachable_since == kUnset) unreachable_since = Clock::now();
      if (!transient || Clock::now() - unreachable_since > kUnreachableLimit) {
        block.Erase();
        rc = ReportFailure("submit", polled.status().WithContext("waiting for sweep " + id));
        gave_up = true;
        break;
      }
    } else {
      unreachable_since = kUnset;
      reply = std::move(*polled);
      std::vector<std::string> changes;
      if (const Json& trials = Member(reply, "trials"); trials.is_array()) {
        for (const Json& t : trials) {
          std::string& known = states[StringMember(t, "id")];
          const std::string state = StringMember(t, "state");
          if (state != known) {
            changes.push_back(TransitionLine(t, known));
            known = state;
          }
        }
      }
      if (tty) {
        UpdateLoss(remote, reply, loss, next_step);
        block.Redraw(changes, LiveLines(reply, loss, TerminalWidth()));
      } else if (live) {
        for (const std::string& line : changes) std::cout << line << "\n";
        std::cout.flush();
      }
      const bool sweep_final = IsFinalSweep(Member(reply, "sweep"));
      if (AllTrialsFinal(reply)) {
        if (all_final_since == kUnset) all_final_since = Clock::now();
      } else {
        all_final_since = kUnset;
      }
      if (sweep_final ||
          (all_final_since != kUnset && Clock::now() - all_final_since > kSettleTime)) {
        rc = AllTrialsCompleted(reply) ? 0 : 1;
        break;
      }
    }
    for (auto waited = std::chrono::milliseconds(0); waited < kPollInterval && !g_interrupted;
         waited += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (g_interrupted) {
      block.Erase();
      std::cerr << "lorafleet submit: stopped watching; sweep " << id
                << " goes on (`lorafleet status " << id << "`, `lorafleet cancel " << id << "`)\n";
      rc = 130;
    }
  }
  std::signal(SIGINT, previous_handler);
  if (rc == 130 || gave_up) return rc;
  block.Erase();
  Result<Json> comparison = remote.Get("/v1/sweeps/" + id + "/compare");
  if (!comparison.ok()) return ReportFailure("submit", comparison.status());
  if (options.json) {
    PrintJson(*comparison);
  } else {
    std::cout << "\n";
    PrintComparison(*comparison);
    if (rc != 0) {
      std::cout << "not every trial completed; see `lorafleet status " << id << "`\n";
    }
  }
  return rc;
}

}  // namespace lf::cli
