// The commands that read or change the coordinator's state one call at a time: `sweeps`,
// `queue`, `workers`, `status ID`, `cancel ID`, `pause ID`, `resume ID`, `priority ID N`.
#include <cstdio>
#include <iostream>
#include <map>

#include "common/clock.h"
#include "cli/commands/command_flags.h"
#include "cli/commands/commands.h"
#include "cli/commands/remote.h"
#include "cli/commands/views.h"
#include "common/http_client.h"

namespace lf::cli {
namespace {

// The shared shape of the listing commands: GET, then print JSON or a rendering of it.
int RunListing(const std::string& command, const std::string& description,
               const std::vector<std::string>& args, const std::string& target,
               void (*print)(const Json&)) {
  RemoteFlags flags;
  AppPtr app = ListingApp(command, description, flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  Result<Coordinator> remote = ConnectFromFlags(flags);
  if (!remote.ok()) return ReportFailure(command, remote.status());
  Result<Json> reply = remote->Get(target);
  if (!reply.ok()) return ReportFailure(command, reply.status());
  if (flags.json) {
    PrintJson(*reply);
  } else {
    print(*reply);
  }
  return 0;
}

void PrintSweeps(const Json& reply) {
  const Json& sweeps = Member(reply, "sweeps");
  if (!sweeps.is_array() || sweeps.empty()) {
    std::cout << "no sweeps yet; submit one with `lorafleet submit SWEEP.yaml`\n";
    return;
  }
  std::cout << SweepsTable(sweeps).RenderText();
}

void PrintQueue(const Json& reply) {
  std::cout << "trials: " << CountsLine(Member(reply, "counts")) << "\n";
  const Json& running = Member(reply, "running");
  const Json& queued = Member(reply, "queued");
  if (running.is_array() && !running.empty()) {
    std::cout << "\nrunning\n" << RunningTable(running).RenderText();
  }
  if (queued.is_array() && !queued.empty()) {
    std::cout << "\nqueued (in the order they will run)\n" << QueuedTable(queued).RenderText();
  }
  if ((!running.is_array() || running.empty()) && (!queued.is_array() || queued.empty())) {
    std::cout << "nothing queued or running\n";
  }
}

void PrintWorkers(const Json& reply) {
  const Json& workers = Member(reply, "workers");
  if (!workers.is_array() || workers.empty()) {
    std::cout << "no workers connected; start some with `lorafleet up`\n";
    return;
  }
  int busy = 0;
  for (const Json& w : workers) busy += StringMember(w, "state") == "busy";
  std::cout << workers.size() << " worker" << (workers.size() == 1 ? "" : "s") << ", " << busy
            << " busy\n"
            << WorkersTable(workers).RenderText();
}

void PrintField(const std::string& name, const std::string& value) {
  if (value.empty()) return;
  std::printf("  %-11s %s\n", name.c_str(), value.c_str());
}

void PrintSweepStatus(const Json& reply) {
  const Json& s = Member(reply, "sweep");
  std::printf("sweep %s \"%s\"\n", StringMember(s, "id").c_str(), StringMember(s, "name").c_str());
  PrintField("state", StringMember(s, "state"));
  PrintField("owner", StringMember(s, "owner"));
  PrintField("priority", FormatInt(Member(s, "priority")));
  PrintField("created", FormatLocalTime(static_cast<int64_t>(NumberMember(s, "created_ms"))));
  PrintField("updated", FormatLocalTime(static_cast<int64_t>(NumberMember(s, "updated_ms"))));
  // An adaptive search adds trials as it runs: say how many it will run in all.
  const Json& planned = Member(s, "planned_trials");
  const bool growing = planned.is_number() && planned != Member(s, "trial_count");
  PrintField("trials", FormatInt(Member(s, "trial_count")) +
                           (growing ? " of " + FormatInt(planned) + " planned" : "") + ": " +
                           CountsLine(Member(s, "counts")));
  const Json& trials = Member(reply, "trials");
  if (trials.is_array() && !trials.empty()) std::cout << "\n" << TrialsTable(trials).RenderText();
  const std::string id = StringMember(s, "id");
  std::cout << "\ncompare with `lorafleet compare " << id << "`; follow with `lorafleet logs " << id
            << " -f`\n";
}

void PrintTrialStatus(const Json& trial, const Json& metrics) {
  const std::string id = StringMember(trial, "id");
  std::printf("trial %s\n", id.c_str());
  PrintField("sweep", StringMember(trial, "sweep_id"));
  std::string state = StringMember(trial, "state");
  const Json& attempt = Member(trial, "attempt");
  if (attempt.is_number() && attempt.get<double>() > 0)
    state += " (attempt " + FormatInt(attempt) + ")";
  const std::string worker = StringMember(trial, "worker");
  if (!worker.empty()) state += " on " + worker;
  PrintField("state", state);
  PrintField("step", Member(trial, "step").is_number() ? FormatInt(Member(trial, "step")) + " of " +
                                                             FormatInt(Member(trial, "steps"))
                                                       : "");
  PrintField("params", FormatParams(Member(trial, "params")));
  const Json& job = Member(trial, "job");
  PrintField("method", StringMember(job, "method"));
  PrintField("base model", StringMember(job, "base_model"));
  PrintField("output", StringMember(job, "output"));
  PrintField("checkpoint", StringMember(trial, "checkpoint"));
  PrintField("created", FormatLocalTime(static_cast<int64_t>(NumberMember(trial, "created_ms"))));
  const auto started = static_cast<int64_t>(NumberMember(trial, "started_ms"));
  const auto finished = static_cast<int64_t>(NumberMember(trial, "finished_ms"));
  if (started > 0) PrintField("started", FormatLocalTime(started));
  if (finished > 0) {
    PrintField("finished",
               FormatLocalTime(finished) +
                   (started > 0 ? " (" + FormatDuration((finished - started) / 1e3) + ")" : ""));
  }
  // The latest value of each metric, with the step it was logged at.
  std::map<std::string, std::pair<int64_t, double>> latest;
  const Json& points = Member(metrics, "metrics");
  if (points.is_array()) {
    for (const Json& p : points) {
      const std::string name = StringMember(p, "name");
      const auto step = static_cast<int64_t>(NumberMember(p, "step"));
      auto it = latest.find(name);
      if (it == latest.end() || it->second.first <= step)
        latest[name] = {step, NumberMember(p, "value")};
    }
  }
  if (!latest.empty()) {
    std::cout << "  metrics (latest)\n";
    for (const auto& [name, sv] : latest) {
      std::printf("    %-16s %-12s step %lld\n", name.c_str(),
                  FormatMetric(name, sv.second).c_str(), static_cast<long long>(sv.first));
    }
  }
  const std::string error = StringMember(trial, "last_error");
  if (!error.empty()) std::cout << "  last error: " << error << "\n";
  if (std::optional<jobs::TrialState> state = TrialStateOf(trial);
      state && jobs::HasAdapter(*state)) {
    std::cout << "\nexport the adapter with `lorafleet export " << id << " DIR`\n";
  }
}

// POST /v1/{sweeps,trials}/{id}/{action} and print the thing's new state.
int RunAction(const std::string& command, const std::vector<std::string>& args, bool trials_too,
              const std::string& description) {
  IdFlags flags;
  AppPtr app = IdApp(command, trials_too ? "SWEEP|TRIAL" : "SWEEP", description, flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  const std::string& id = flags.id;
  if (Status st = CheckId(id); !st.ok()) return ReportError(command, st);
  const IdKind kind = ClassifyId(id);
  if (kind == IdKind::kTrial && !trials_too) {
    return ReportError(command,
                       InvalidArgument("'" + id + "' is a trial; " + command +
                                       " works on sweeps (the sweep is " + id.substr(0, 26) + ")"));
  }
  Result<Coordinator> remote = ConnectFromFlags(flags.remote);
  if (!remote.ok()) return ReportFailure(command, remote.status());
  const bool is_sweep = kind == IdKind::kSweep;
  const std::string target =
      std::string(is_sweep ? "/v1/sweeps/" : "/v1/trials/") + id + "/" + command;
  Result<Json> reply = remote->Post(target);
  if (!reply.ok()) return ReportFailure(command, reply.status());
  if (flags.remote.json) {
    PrintJson(*reply);
    return 0;
  }
  const Json& thing = Member(*reply, is_sweep ? "sweep" : "trial");
  std::cout << (is_sweep ? "sweep " : "trial ") << id << " is "
            << StringMember(thing, "state", "?");
  if (is_sweep) std::cout << " (" << CountsLine(Member(thing, "counts")) << ")";
  std::cout << "\n";
  return 0;
}

}  // namespace

int RunSweeps(const std::vector<std::string>& args) {
  return RunListing("sweeps", "List the sweeps.", args, "/v1/sweeps", PrintSweeps);
}

int RunQueue(const std::vector<std::string>& args) {
  return RunListing("queue", "What is queued and running.", args, "/v1/queue", PrintQueue);
}

int RunWorkers(const std::vector<std::string>& args) {
  return RunListing("workers", "The connected worker ranks.", args, "/v1/workers",
                    PrintWorkers);
}

int RunStatus(const std::vector<std::string>& args) {
  IdFlags flags;
  AppPtr app = IdApp("status", "SWEEP|TRIAL",
                     "A sweep and its trials, or one trial and its latest metrics.", flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  const std::string& id = flags.id;
  if (Status st = CheckId(id); !st.ok()) return ReportError("status", st);
  Result<Coordinator> remote = ConnectFromFlags(flags.remote);
  if (!remote.ok()) return ReportFailure("status", remote.status());
  if (ClassifyId(id) == IdKind::kSweep) {
    Result<Json> reply = remote->Get("/v1/sweeps/" + id);
    if (!reply.ok()) return ReportFailure("status", reply.status());
    if (flags.remote.json) {
      PrintJson(*reply);
    } else {
      PrintSweepStatus(*reply);
    }
    return 0;
  }
  Result<Json> reply = remote->Get("/v1/trials/" + id);
  if (!reply.ok()) return ReportFailure("status", reply.status());
  if (flags.remote.json) {
    PrintJson(*reply);
    return 0;
  }
  Result<Json> metrics = remote->Get("/v1/trials/" + id + "/metrics");
  if (!metrics.ok()) return ReportFailure("status", metrics.status());
  PrintTrialStatus(Member(*reply, "trial"), *metrics);
  return 0;
}

int RunCancel(const std::vector<std::string>& args) {
  return RunAction("cancel", args, true,
                   "Cancel a sweep (its queued and running trials) or one trial.");
}
int RunPause(const std::vector<std::string>& args) {
  return RunAction("pause", args, false,
                   "Hold a sweep's queued trials back; running ones finish.");
}
int RunResume(const std::vector<std::string>& args) {
  return RunAction("resume", args, false, "Queue a paused sweep's trials again.");
}

int RunPriority(const std::vector<std::string>& args) {
  PriorityFlags flags;
  AppPtr app = PriorityApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  const std::string& id = flags.sweep;
  if (ClassifyId(id) != IdKind::kSweep) {
    return ReportError("priority",
                       InvalidArgument("'" + id +
                                       "' is not a sweep id; priorities "
                                       "belong to sweeps (`lorafleet sweeps` lists them)"));
  }
  const int64_t priority = flags.priority;
  Result<Coordinator> remote = ConnectFromFlags(flags.remote);
  if (!remote.ok()) return ReportFailure("priority", remote.status());
  Result<Json> reply = remote->Post("/v1/sweeps/" + id + "/priority", {{"priority", priority}});
  if (!reply.ok()) return ReportFailure("priority", reply.status());
  if (flags.remote.json) {
    PrintJson(*reply);
  } else {
    std::cout << "sweep " << id << " has priority "
              << FormatInt(Member(Member(*reply, "sweep"), "priority")) << "\n";
  }
  return 0;
}

int RunAdapters(const std::vector<std::string>& args) {
  AdaptersFlags flags;
  AppPtr app = AdaptersApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  Result<Coordinator> remote = ConnectFromFlags(flags.remote);
  if (!remote.ok()) return ReportFailure("adapters", remote.status());
  const std::optional<std::string>& tag = flags.tag;
  Result<Json> reply = remote->Get("/v1/adapters" + (tag ? "?tag=" + UrlEncode(*tag) : ""));
  if (!reply.ok()) return ReportFailure("adapters", reply.status());
  if (flags.remote.json) {
    PrintJson(*reply);
    return 0;
  }
  const Json& adapters = Member(*reply, "adapters");
  if (!adapters.is_array() || adapters.empty()) {
    std::cout << "no adapters stored yet; they appear as trials complete\n";
    return 0;
  }
  std::cout << AdaptersTable(adapters).RenderText();
  return 0;
}

int RunTag(const std::vector<std::string>& args) {
  TagFlags flags;
  AppPtr app = TagApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  const std::string &id = flags.trial, &name = flags.name;
  if (ClassifyId(id) != IdKind::kTrial) {
    return ReportError("tag", InvalidArgument("'" + id + "' is not a trial id; tags name one "
                                              "trial's adapter (`lorafleet adapters` lists them)"));
  }
  Result<Coordinator> remote = ConnectFromFlags(flags.remote);
  if (!remote.ok()) return ReportFailure("tag", remote.status());
  Result<Json> reply = remote->Post("/v1/trials/" + id + "/tag", {{"name", name}});
  if (!reply.ok()) return ReportFailure("tag", reply.status());
  if (flags.remote.json) {
    PrintJson(*reply);
  } else {
    std::cout << "tagged the adapter of " << id << " as " << name << "\n";
  }
  return 0;
}

}  // namespace lf::cli
