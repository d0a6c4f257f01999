// lorafleet: the command-line client. Dispatches to a command, which parses its own flags
// (cli/commands/command_flags.h); see `lorafleet help`.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "cli/commands/commands.h"
#include "common/logging.h"
#include "common/version.h"

namespace {

void PrintHelp() {
  std::cout << "lorafleet " << lf::kVersion << R"( - train many parameter-efficient adapters

usage: lorafleet <command> [arguments]

a fleet on this machine or a cluster (a coordinator daemon and MPI worker ranks):
  up [--workers N] [--hostfile FILE] [--http HOST:PORT] [--worker-endpoint tcp://HOST:PORT]
     [--heartbeat-timeout S] [--max-pack N]
                                      start the coordinator and N workers in the background
  down                                stop the workers (they checkpoint) and the coordinator
  submit SWEEP.yaml [--wait]          queue a sweep; --wait follows it and prints the comparison
  sweeps                              list the sweeps
  status SWEEP|TRIAL                  a sweep and its trials, or one trial and its metrics
  logs SWEEP|TRIAL [-f]               events and metric lines; -f follows until the end
  compare SWEEP... [--csv|--md]       the trials side by side, best eval loss first (several
                                      sweeps of one base model as one table)
  export TRIAL DIR [--force]          download a trained adapter (Hugging Face PEFT format)
  adapters [--tag NAME]               every stored adapter, newest first, with its tags
  tag TRIAL NAME                      name a completed trial's adapter (moves NAME if taken)
  cancel SWEEP|TRIAL, pause SWEEP, resume SWEEP, priority SWEEP N
  queue                               what is queued and running
  workers                             the connected worker ranks
  These take --url URL (default: $LORAFLEET_URL, then <home>/coordinator.json, then
  http://127.0.0.1:7070), --home DIR (default: $LORAFLEET_HOME, then ./.lorafleet) and --json.

one job, no daemon:
  train JOB.yaml [--out DIR]          train one adapter on this machine
  eval --base DIR [--adapter DIR] --data FILE.jsonl [--json]
                                      mean next-token loss and perplexity of a model
  generate --base DIR [--adapter DIR]... --prompt TEXT [--max-new-tokens N]
                                      greedy continuation, once per adapter, one loaded base
  merge --base DIR --adapter DIR --out DIR
                                      fold an adapter into the base; save a Hugging Face folder
  tokenize --tokenizer DIR [--json]   token ids of the text on stdin
  pretrain --data FILE.jsonl --out DIR [options]
                                      train a small GPT-2-architecture base model from scratch
  inspect FILE.safetensors [--json]   list the tensors, dtypes, shapes and metadata of a file
  version                             print the version
  help                                this text

`lorafleet COMMAND --help` (or `lorafleet help COMMAND`) lists a command's options.
Bad arguments exit with 2, other failures with 1.

The experiment store is inspected with lorafleet-store (see `lorafleet-store --help`).
)";
}

using Command = int (*)(const std::vector<std::string>&);

// The commands by name; `version` and `help` are answered by main itself.
Command Find(const std::string& name) {
  static const std::map<std::string, Command> kCommands = {
      {"inspect", lf::cli::RunInspect},   {"train", lf::cli::RunTrain},
      {"pretrain", lf::cli::RunPretrain}, {"eval", lf::cli::RunEval},
      {"tokenize", lf::cli::RunTokenize}, {"generate", lf::cli::RunGenerate},
      {"merge", lf::cli::RunMerge},       {"up", lf::cli::RunUp},
      {"down", lf::cli::RunDown},         {"submit", lf::cli::RunSubmit},
      {"sweeps", lf::cli::RunSweeps},     {"queue", lf::cli::RunQueue},
      {"workers", lf::cli::RunWorkers},   {"status", lf::cli::RunStatus},
      {"logs", lf::cli::RunLogs},         {"cancel", lf::cli::RunCancel},
      {"pause", lf::cli::RunPause},       {"resume", lf::cli::RunResume},
      {"priority", lf::cli::RunPriority}, {"adapters", lf::cli::RunAdapters},
      {"tag", lf::cli::RunTag},           {"compare", lf::cli::RunCompare},
      {"export", lf::cli::RunExport},
  };
  auto it = kCommands.find(name);
  return it == kCommands.end() ? nullptr : it->second;
}

}  // namespace

int main(int argc, char** argv) {
  lf::log::InitFromEnvironment();
  std::vector<std::string> args(argv + 1, argv + argc);
  // `lorafleet help COMMAND` is `lorafleet COMMAND --help`.
  if (args.size() == 2 && args[0] == "help" && Find(args[1]) != nullptr) {
    args = {args[1], "--help"};
  }
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    PrintHelp();
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "version" || command == "--version") {
    std::cout << "lorafleet " << lf::kVersion << "\n";
    return 0;
  }
  if (Command run = Find(command)) return run(args);
  std::cerr << "lorafleet: unknown command '" << command << "'; run `lorafleet help`\n";
  return 2;
}
