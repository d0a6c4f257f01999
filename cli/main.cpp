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

commands:
  train JOB.yaml [--out DIR]          train one adapter on this machine (no daemon)
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
  std::cerr << "lorafleet: unknown command '" << command << "'; run `lorafleet help`\n";
  return 2;
}
