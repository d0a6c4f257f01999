#include "common/flags.h"

#include <algorithm>
#include <charconv>

namespace lf::flags {
namespace {

// The app the user was talking to: the deepest subcommand that was parsed.
const CLI::App& InnermostParsed(const CLI::App& app) {
  const CLI::App* current = &app;
  while (true) {
    const std::vector<CLI::App*> subs = current->get_subcommands();
    if (subs.empty()) return *current;
    current = subs.front();
  }
}

// "lorafleet-store trials": the app's name after its parents'.
std::string FullName(const CLI::App& app) {
  std::string name = app.get_name();
  for (const CLI::App* p = app.get_parent(); p != nullptr; p = p->get_parent()) {
    name = p->get_name() + " " + name;
  }
  return name;
}

// CLI11 reports a missing required flag before words it did not expect; a mistyped flag is the
// likelier cause of both, so unexpected words are collected (allow_extras) and reported first.
void CollectExtras(CLI::App& app) {
  app.allow_extras();
  for (CLI::App* sub : app.get_subcommands({})) CollectExtras(*sub);
}

}  // namespace

std::unique_ptr<CLI::App> MakeApp(const std::string& name, const std::string& description) {
  auto app = std::make_unique<CLI::App>(description, name);
  app->option_defaults()->always_capture_default();
  app->get_formatter()->column_width(34);
  return app;
}

std::optional<int> Parse(CLI::App& app, std::vector<std::string> args, std::ostream& out,
                         std::ostream& err) {
  const auto report = [&](const CLI::Error& e) {
    const std::string name = FullName(InnermostParsed(app));
    err << name << ": " << e.what() << "\nrun `" << name << " --help` for the options\n";
    return kUsageExitCode;
  };
  const auto unexpected = [&]() -> std::optional<CLI::ExtrasError> {
    std::vector<std::string> words = app.remaining(/*recurse=*/true);
    if (words.empty()) return std::nullopt;
    std::reverse(words.begin(), words.end());  // the message lists them last first
    return CLI::ExtrasError(words);
  };
  CollectExtras(app);
  std::reverse(args.begin(), args.end());  // CLI11 takes the words last first
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    const CLI::App& asked = InnermostParsed(app);
    // A subcommand's usage line starts with its parents' names: "lorafleet-store trials".
    out << (asked.get_parent() == nullptr ? asked.help() : asked.help(FullName(*asked.get_parent())));
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    out << e.what() << "\n";
    return 0;
  } catch (const CLI::RequiredError& e) {
    if (std::optional<CLI::ExtrasError> extra = unexpected()) return report(*extra);
    return report(e);
  } catch (const CLI::ParseError& e) {
    return report(e);
  }
  if (std::optional<CLI::ExtrasError> extra = unexpected()) return report(*extra);
  return std::nullopt;
}

std::optional<int> Parse(CLI::App& app, int argc, const char* const* argv, std::ostream& out,
                         std::ostream& err) {
  return Parse(app, std::vector<std::string>(argv + std::min(argc, 1), argv + argc), out, err);
}

CLI::Validator IntAtLeast(int64_t min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        int64_t value = 0;
        const char* end = text.data() + text.size();
        auto [at, ec] = std::from_chars(text.data(), end, value);
        if (ec == std::errc() && at == end && value >= min) return "";
        return "expected an integer >= " + std::to_string(min) + ", got '" + text + "'";
      },
      "");  // the help text states a bound that is not obvious
}

CLI::Validator PositiveNumber() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          size_t used = 0;
          const double value = std::stod(text, &used);
          if (used == text.size() && value > 0) return "";
        } catch (const std::exception&) {
        }
        return "expected a positive number, got '" + text + "'";
      },
      "");
}

}  // namespace lf::flags
