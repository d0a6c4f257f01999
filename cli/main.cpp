// lorafleet: the command-line client. Dispatches to a command; see `lorafleet help`.
#include <iostream>
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

Run a command without arguments for its options.

The experiment store is inspected with lorafleet-store (see `lorafleet-store help`).
)";
}

}  // namespace

int main(int argc, char** argv) {
  lf::log::InitFromEnvironment();
  std::vector<std::string> args(argv + 1, argv + argc);
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
  if (command == "inspect") return lf::cli::RunInspect(args);
  if (command == "train") return lf::cli::RunTrain(args);
  if (command == "pretrain") return lf::cli::RunPretrain(args);
  if (command == "eval") return lf::cli::RunEval(args);
  if (command == "tokenize") return lf::cli::RunTokenize(args);
  if (command == "generate") return lf::cli::RunGenerate(args);
  if (command == "merge") return lf::cli::RunMerge(args);
  if (command == "up") return lf::cli::RunUp(args);
  if (command == "down") return lf::cli::RunDown(args);
  if (command == "submit") return lf::cli::RunSubmit(args);
  if (command == "sweeps") return lf::cli::RunSweeps(args);
  if (command == "queue") return lf::cli::RunQueue(args);
  if (command == "workers") return lf::cli::RunWorkers(args);
  if (command == "status") return lf::cli::RunStatus(args);
  if (command == "logs") return lf::cli::RunLogs(args);
  if (command == "cancel") return lf::cli::RunCancel(args);
  if (command == "pause") return lf::cli::RunPause(args);
  if (command == "resume") return lf::cli::RunResume(args);
  if (command == "priority") return lf::cli::RunPriority(args);
  if (command == "adapters") return lf::cli::RunAdapters(args);
  if (command == "tag") return lf::cli::RunTag(args);
  if (command == "compare") return lf::cli::RunCompare(args);
  if (command == "export") return lf::cli::RunExport(args);
  std::cerr << "lorafleet: unknown command '" << command << "'; run `lorafleet help`\n";
  return 2;
}
