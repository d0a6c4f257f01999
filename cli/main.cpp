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
  inspect FILE.safetensors [--json]   list the tensors, dtypes, shapes and metadata of a file
  version                             print the version
  help                                this text

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
  std::cerr << "lorafleet: unknown command '" << command << "'; run `lorafleet help`\n";
  return 2;
}
