// Each `lorafleet` command's flags: a struct of the values, with their defaults, and a function
// that declares them on a CLI11 app named "lorafleet <command>" (names, short forms, help text,
// validators). The command functions parse with these (flags::Parse: --help, exit code 2 for a
// bad flag), and tests/unit/cli checks them without running a command. Only values live here:
// what a value means (a URL, an id, a job file) is checked by the command.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands/remote.h"
#include "common/flags.h"
#include "worker/worker_api.h"

namespace lf::cli {

using AppPtr = std::unique_ptr<CLI::App>;

// --url URL, --home DIR, --json: what every command that calls the coordinator takes.
void AddRemoteFlags(CLI::App& app, RemoteFlags& flags);

// ---- one job on this machine, no daemon (command_flags_local.cpp) ----------------------------

struct InspectFlags {
  std::string file;
  bool json = false;
};
AppPtr InspectApp(InspectFlags& f);

struct TrainFlags {
  std::string job;
  std::optional<std::string> out;
  bool no_resume = false, quiet = false, json = false;
};
AppPtr TrainApp(TrainFlags& f);

// Binds straight into the spec; the training defaults are pretrain's own (1000 steps, batch 16,
// lr 1e-3, cosine), not a job file's.
struct PretrainFlags {
  PretrainFlags();
  worker::PretrainSpec spec;
  std::optional<int64_t> warmup;       // default: steps / 20
  std::optional<std::string> schedule;  // default: cosine; parsed by the job file's rules
  bool no_resume = false, quiet = false, json = false;
};
AppPtr PretrainApp(PretrainFlags& f);

struct EvalFlags {
  std::string base, data;
  std::string adapter, logits;  // empty: none
  bool json = false;
};
AppPtr EvalApp(EvalFlags& f);

struct TokenizeFlags {
  std::string tokenizer;
  bool json = false;
};
AppPtr TokenizeApp(TokenizeFlags& f);

struct GenerateFlags {
  std::string base, prompt;
  std::vector<std::string> adapters;  // --adapter, repeatable
  int64_t max_new_tokens = 64;
  bool chat = false;
};
AppPtr GenerateApp(GenerateFlags& f);

struct MergeFlags {
  std::string base, adapter, out;
};
AppPtr MergeApp(MergeFlags& f);

// ---- the fleet and the coordinator (command_flags_remote.cpp) --------------------------------

struct UpFlags {
  int64_t workers = 2;
  std::string hostfile;  // empty: every rank on this machine
  std::optional<std::string> home;
  std::string http = "127.0.0.1:7070";
  std::optional<std::string> worker_endpoint;  // default: kDefaultWorkerEndpoint; with a
                                               // hostfile, every interface (tcp://0.0.0.0:7071)
  std::optional<std::string> heartbeat_timeout;  // seconds, handed to lorafleetd as written
  std::optional<int64_t> max_pack;
  std::string daemon_args;  // more lorafleetd flags, split at spaces (quotas, --allowed-host)
  bool open_reads = false, json = false;
};
AppPtr UpApp(UpFlags& f);

struct DownFlags {
  std::optional<std::string> home;
};
AppPtr DownApp(DownFlags& f);

// sweeps, queue, workers: no arguments.
AppPtr ListingApp(const std::string& command, const std::string& description, RemoteFlags& f);

// status, cancel, pause, resume: one id. `what` names it in the help ("SWEEP|TRIAL").
struct IdFlags {
  RemoteFlags remote;
  std::string id;
};
AppPtr IdApp(const std::string& command, const std::string& what, const std::string& description,
             IdFlags& f);

struct LogsFlags {
  RemoteFlags remote;
  std::string id;
  bool follow = false;
};
AppPtr LogsApp(LogsFlags& f);

struct SubmitFlags {
  RemoteFlags remote;
  std::string sweep_file;
  bool wait = false;
  bool dry_run = false;
};
AppPtr SubmitApp(SubmitFlags& f);

struct PriorityFlags {
  RemoteFlags remote;
  std::string sweep;
  int64_t priority = 0;
};
AppPtr PriorityApp(PriorityFlags& f);

struct AdaptersFlags {
  RemoteFlags remote;
  std::optional<std::string> tag;
};
AppPtr AdaptersApp(AdaptersFlags& f);

struct TagFlags {
  RemoteFlags remote;
  std::string trial, name;
};
AppPtr TagApp(TagFlags& f);

struct CompareFlags {
  RemoteFlags remote;
  std::vector<std::string> sweeps;
  bool csv = false, md = false;
  std::optional<std::string> plot;
  std::string plot_x;  // empty: the first numeric swept key
};
AppPtr CompareApp(CompareFlags& f);

struct ExportFlags {
  RemoteFlags remote;
  std::string trial, dir;
  bool force = false;
};
AppPtr ExportApp(ExportFlags& f);

}  // namespace lf::cli
