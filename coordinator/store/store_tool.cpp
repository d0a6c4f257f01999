#include "coordinator/store/store_tool.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "common/clock.h"
#include "common/flags.h"
#include "common/json_reader.h"
#include "coordinator/store/experiment_store.h"

namespace lf::store {
namespace {

struct Args {
  std::string command;
  std::string store = ".lorafleet/store";
  bool json = false;
  TrialFilter filter;  // trials
  std::string state;   // trials --state: checked while parsing, then put in `filter`
  EventQuery query;    // events
  std::string target;  // backup
};

std::unique_ptr<CLI::App> StoreApp(Args& a) {
  auto app = flags::MakeApp(
      "lorafleet-store",
      "Offline inspection and backup of an experiment store. Reads open the store read-only, so "
      "they work while the coordinator runs; backup needs the store to itself.");
  app->add_option("--store", a.store, "the store directory")->type_name("DIR");
  app->add_flag("--json", a.json, "machine-readable output");
  app->require_subcommand(0, 1);
  app->fallthrough();  // --store and --json after the command too
  app->add_subcommand("info", "schema version, counts and size on disk");
  app->add_subcommand("sweeps", "every sweep, oldest first");
  CLI::App* trials = app->add_subcommand("trials", "trials, by id");
  trials->add_option("--sweep", a.filter.sweep_id, "only this sweep's")->type_name("ID");
  trials->add_option("--state", a.state, "only trials in this state")
      ->type_name("STATE")
      ->check(CLI::Validator(
          [](std::string& name) -> std::string {
            Result<jobs::TrialState> state = jobs::ParseTrialState(name);
            return state.ok() ? "" : state.status().message();
          },
          ""));
  CLI::App* events = app->add_subcommand("events", "the audit log");
  events->add_option("--trial", a.query.trial_id, "only this trial's")->type_name("ID");
  events->add_option("--after", a.query.after_seq, "events after this sequence number")
      ->type_name("SEQ")
      ->check(flags::IntAtLeast(0));
  events->add_option("--limit", a.query.limit, "at most this many")
      ->type_name("N")
      ->check(flags::IntAtLeast(0));
  app->add_subcommand("quarantine",
                      "records that did not decode when the coordinator opened the store, moved "
                      "aside with their key, bytes and error");
  CLI::App* backup =
      app->add_subcommand("backup", "a consistent copy (the coordinator must be stopped)");
  backup->add_option("TARGET_DIR", a.target, "a new directory for the copy")->required();
  for (CLI::App* command : app->get_subcommands({})) {
    command->footer("--store DIR and --json (see `lorafleet-store --help`) go before or after it.");
  }
  return app;
}

Json SweepJson(const SweepRecord& s) {
  return {{"id", s.id},           {"name", s.name},
          {"owner", s.owner},     {"state", jobs::SweepStateName(s.state)},
          {"priority", s.priority}, {"trial_count", s.trial_count},
          {"created_ms", s.created_ms}, {"updated_ms", s.updated_ms}};
}

Json TrialJson(const TrialRecord& t) {
  return {{"id", t.id},           {"sweep_id", t.sweep_id}, {"index", t.index},
          {"state", jobs::TrialStateName(t.state)}, {"attempt", t.attempt},
          {"worker", t.worker},   {"last_error", t.last_error}, {"checkpoint", t.checkpoint},
          {"created_ms", t.created_ms}, {"updated_ms", t.updated_ms}};
}

Json EventJson(const EventRecord& e) {
  return {{"seq", e.seq},   {"time_ms", e.time_ms},   {"actor", e.actor}, {"kind", e.kind},
          {"sweep_id", e.sweep_id}, {"trial_id", e.trial_id}, {"detail", e.detail}};
}

Status Run(const Args& a) {
  if (a.command == "backup") {
    LF_ASSIGN_OR_RETURN(auto store, OpenRocksDbStore({.path = a.store, .create_if_missing = false}));
    LF_RETURN_IF_ERROR(store->Backup(a.target));
    std::cout << "backed up " << a.store << " to " << a.target << "\n";
    return Status::Ok();
  }
  LF_ASSIGN_OR_RETURN(auto store, OpenRocksDbStore({.path = a.store, .read_only = true}));
  if (a.command == "info") {
    LF_ASSIGN_OR_RETURN(StoreInfo info, store->Info());
    if (a.json) {
      std::cout << Json({{"path", info.path}, {"schema_version", info.schema_version},
                         {"created_by", info.created_by}, {"sweeps", info.sweeps},
                         {"trials", info.trials}, {"last_event_seq", info.last_event_seq},
                         {"bytes", info.approximate_bytes}, {"quarantined", info.quarantined}})
                       .dump(2)
                << "\n";
    } else {
      std::printf("store %s\n  schema version %d (created by lorafleet %s)\n  %llu sweeps, %llu "
                  "trials, %llu events\n  %.1f MB on disk\n",
                  info.path.c_str(), info.schema_version, info.created_by.c_str(),
                  static_cast<unsigned long long>(info.sweeps),
                  static_cast<unsigned long long>(info.trials),
                  static_cast<unsigned long long>(info.last_event_seq),
                  static_cast<double>(info.approximate_bytes) / 1e6);
      if (info.quarantined > 0) {
        std::printf("  %llu record(s) in the quarantine: see `lorafleet-store quarantine`\n",
                    static_cast<unsigned long long>(info.quarantined));
      }
    }
    return Status::Ok();
  }
  if (a.command == "quarantine") {
    LF_ASSIGN_OR_RETURN(auto records, store->ListQuarantined());
    Json out = Json::array();
    for (const auto& r : records) {
      if (a.json) {
        out.push_back(Json{{"family", r.family},
                           {"key", r.key},
                           {"error", r.error},
                           {"time_ms", r.time_ms},
                           {"size", r.bytes.size()}});
      } else {
        std::printf("%s  %s/%s  %zu bytes  %s\n", FormatUtcMillis(r.time_ms).c_str(),
                    r.family.c_str(), r.key.c_str(), r.bytes.size(), r.error.c_str());
      }
    }
    if (a.json) {
      std::cout << out.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
    } else if (records.empty()) {
      std::printf("the quarantine is empty\n");
    }
    return Status::Ok();
  }
  if (a.command == "sweeps") {
    LF_ASSIGN_OR_RETURN(auto sweeps, store->ListSweeps());
    Json out = Json::array();
    for (const auto& s : sweeps) {
      if (a.json) {
        out.push_back(SweepJson(s));
      } else {
        std::printf("%s  %-9s prio %-3d %5u trials  %s\n", s.id.c_str(),
                    std::string(jobs::SweepStateName(s.state)).c_str(), s.priority, s.trial_count,
                    s.name.c_str());
      }
    }
    if (a.json) std::cout << out.dump(2) << "\n";
    return Status::Ok();
  }
  if (a.command == "trials") {
    LF_ASSIGN_OR_RETURN(auto trials, store->ListTrials(a.filter));
    Json out = Json::array();
    for (const auto& t : trials) {
      if (a.json) {
        out.push_back(TrialJson(t));
      } else {
        std::printf("%s  %-9s attempt %u  %s%s\n", t.id.c_str(),
                    std::string(jobs::TrialStateName(t.state)).c_str(), t.attempt,
                    t.worker.c_str(), t.last_error.empty() ? "" : ("  " + t.last_error).c_str());
      }
    }
    if (a.json) std::cout << out.dump(2) << "\n";
    return Status::Ok();
  }
  if (a.command == "events") {
    LF_ASSIGN_OR_RETURN(auto events, store->ReadEvents(a.query));
    Json out = Json::array();
    for (const auto& e : events) {
      if (a.json) {
        out.push_back(EventJson(e));
      } else {
        std::printf("%6llu  %s  %-16s %-18s %s %s\n", static_cast<unsigned long long>(e.seq),
                    FormatUtcMillis(e.time_ms).c_str(), e.actor.c_str(), e.kind.c_str(),
                    (e.trial_id.empty() ? e.sweep_id : e.trial_id).c_str(), e.detail.c_str());
      }
    }
    if (a.json) std::cout << out.dump(2) << "\n";
    return Status::Ok();
  }
  return InvalidArgument("unknown command '" + a.command + "'");
}

}  // namespace

int RunStoreTool(const std::vector<std::string>& argv) {
  Args args;
  auto app = StoreApp(args);
  if (argv.empty() || argv[0] == "help") {
    std::cout << app->help();
    return argv.empty() ? flags::kUsageExitCode : 0;
  }
  if (std::optional<int> rc = flags::Parse(*app, argv)) return *rc;
  const std::vector<CLI::App*> command = app->get_subcommands();
  if (command.empty()) {
    std::cerr << "lorafleet-store: a command is required (info, sweeps, trials, events, "
                 "quarantine or backup); run `lorafleet-store --help`\n";
    return flags::kUsageExitCode;
  }
  args.command = command.front()->get_name();
  if (!args.state.empty()) args.filter.states = {*jobs::ParseTrialState(args.state)};
  Status st = Run(args);
  if (!st.ok()) {
    std::cerr << "lorafleet-store " << args.command << ": " << st.message() << "\n";
    return st.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace lf::store
