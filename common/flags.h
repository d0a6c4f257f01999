// Command-line parsing shared by every lorafleet executable (the CLI, the daemon, the worker, the
// store tool, the benchmarks): a CLI11 app with lorafleet's conventions, and one function that
// runs it and turns --help and usage errors into output and an exit code (0 and 2), so every
// binary answers --help and reports a bad flag the same way. Its own library (lf_flags), not part
// of lf_common, so that only the targets that parse flags carry CLI11.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lf::flags {

// Bad arguments exit with 2 (and other failures with 1) in every lorafleet binary.
inline constexpr int kUsageExitCode = 2;

// An app named as the user types it ("lorafleet up", "lorafleetd"), whose --help shows defaults.
std::unique_ptr<CLI::App> MakeApp(const std::string& name, const std::string& description);

// Parses `args` (the words after the program's or command's name) with `app`. Returns nullopt
// when the program should go on; otherwise the exit code: 0 after --help or --version (printed
// to `out`), 2 after a usage error, printed to `err` as "<name>: <CLI11's message naming the
// flag>" plus a line saying to run `<name> --help`.
std::optional<int> Parse(CLI::App& app, std::vector<std::string> args,
                         std::ostream& out = std::cout, std::ostream& err = std::cerr);
// The same over main's argc/argv (argv[0] is skipped).
std::optional<int> Parse(CLI::App& app, int argc, const char* const* argv,
                         std::ostream& out = std::cout, std::ostream& err = std::cerr);

// Validators whose messages state the rule and the value, e.g. "--steps: expected an integer
// >= 1, got 'x'". (CLI::PositiveNumber and an open-ended CLI::Range print the limits of double
// and int64 instead; use CLI::Range where both bounds mean something.)
CLI::Validator IntAtLeast(int64_t min);
CLI::Validator PositiveNumber();

}  // namespace lf::flags
