#include "coordinator/store/store_tool.h"

#include <cstdio>
#include <iostream>
#include <map>

#include "common/clock.h"
#include "common/json_reader.h"
#include "coordinator/store/experiment_store.h"

namespace lf::store {
namespace {

constexpr const char* kUsage = R"(usage: lorafleet-store <command> [--store DIR] [options]

commands:
  info                                  schema version, counts and size on disk
  sweeps                                every sweep, oldest first
  trials [--sweep ID] [--state STATE]   trials, by id
  events [--trial ID] [--after SEQ] [--limit N]
                                        the audit log
  backup TARGET_DIR                     a consistent copy (the coordinator must be stopped)

options:
  --store DIR   the store directory (default ./.lorafleet/store)
  --json        machine-readable output
)";

struct Args {
  std::string command;
  std::string store = ".lorafleet/store";
  bool json = false;
  std::map<std::string, std::string> flags;
  std::vector<std::string> positional;
};

Result<Args> Parse(const std::vector<std::string>& argv) {
  Args a;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    if (s == "--json") {
      a.json = true;
    } else if (s.rfind("--", 0) == 0) {
      if (i + 1 >= argv.size()) return InvalidArgument(s + " needs a value");
      (s == "--store" ? a.store : a.flags[s]) = argv[++i];
    } else if (a.command.empty()) {
      a.command = s;
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

Json SweepJson(const SweepRecord& s) {
  return {{"id", s.id},           {"name", s.name},
          {"owner", s.owner},     {"state", jobs::SweepStateName(s.state)},
          {"priority", s.priority}, {"trials", s.trial_count},
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

Result<uint64_t> ParseCount(const Args& a, const std::string& flag, uint64_t fallback) {
  auto it = a.flags.find(flag);
  if (it == a.flags.end()) return fallback;
  try {
    size_t used = 0;
    unsigned long long v = std::stoull(it->second, &used);
    if (used == it->second.size()) return static_cast<uint64_t>(v);
  } catch (const std::exception&) {
  }
  return InvalidArgument(flag + " expects a non-negative integer, got '" + it->second + "'");
}

Status Run(const Args& a) {
  // Arguments are checked before the store is opened, so a typo is reported as such.
  if (a.command != "backup" && a.command != "info" && a.command != "sweeps" &&
      a.command != "trials" && a.command != "events") {
    return InvalidArgument("unknown command '" + a.command + "'");
  }
  for (const auto& [flag, value] : a.flags) {
    if (flag != "--sweep" && flag != "--state" && flag != "--trial" && flag != "--after" &&
        flag != "--limit") {
      return InvalidArgument("unknown option " + flag);
    }
  }
  TrialFilter filter;
  if (auto it = a.flags.find("--sweep"); it != a.flags.end()) filter.sweep_id = it->second;
  if (auto it = a.flags.find("--state"); it != a.flags.end()) {
    LF_ASSIGN_OR_RETURN(jobs::TrialState s, jobs::ParseTrialState(it->second));
    filter.states.push_back(s);
  }
  EventQuery query;
  LF_ASSIGN_OR_RETURN(query.after_seq, ParseCount(a, "--after", 0));
  LF_ASSIGN_OR_RETURN(query.limit, ParseCount(a, "--limit", 1000));
  if (auto it = a.flags.find("--trial"); it != a.flags.end()) query.trial_id = it->second;

  if (a.command == "backup") {
    if (a.positional.size() != 1) return InvalidArgument("backup needs one TARGET_DIR");
    LF_ASSIGN_OR_RETURN(auto store, OpenRocksDbStore({.path = a.store, .create_if_missing = false}));
    LF_RETURN_IF_ERROR(store->Backup(a.positional[0]));
    std::cout << "backed up " << a.store << " to " << a.positional[0] << "\n";
    return Status::Ok();
  }
  LF_ASSIGN_OR_RETURN(auto store, OpenRocksDbStore({.path = a.store, .read_only = true}));
  if (a.command == "info") {
    LF_ASSIGN_OR_RETURN(StoreInfo info, store->Info());
    if (a.json) {
      std::cout << Json({{"path", info.path}, {"schema_version", info.schema_version},
                         {"created_by", info.created_by}, {"sweeps", info.sweeps},
                         {"trials", info.trials}, {"last_event_seq", info.last_event_seq},
                         {"bytes", info.approximate_bytes}})
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
    LF_ASSIGN_OR_RETURN(auto trials, store->ListTrials(filter));
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
    LF_ASSIGN_OR_RETURN(auto events, store->ReadEvents(query));
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
  if (argv.empty() || argv[0] == "help" || argv[0] == "--help") {
    std::cout << kUsage;
    return argv.empty() ? 2 : 0;
  }
  Result<Args> args = Parse(argv);
  if (!args.ok()) {
    std::cerr << "lorafleet-store: " << args.status().message() << "\n" << kUsage;
    return 2;
  }
  Status st = Run(*args);
  if (!st.ok()) {
    std::cerr << "lorafleet-store " << args->command << ": " << st.message() << "\n";
    return st.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace lf::store
