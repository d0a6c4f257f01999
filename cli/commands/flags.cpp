#include "cli/commands/flags.h"

#include <iostream>

namespace lf::cli {

Result<Flags> Flags::Parse(const std::vector<std::string>& args, const FlagSpec& spec) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      if (f.positional_.size() >= spec.max_positional) {
        return InvalidArgument("unexpected argument '" + a + "'");
      }
      f.positional_.push_back(a);
      continue;
    }
    std::string name = a, value;
    const size_t eq = a.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    if (spec.switches.count(name)) {
      if (inline_value) return InvalidArgument(name + " takes no value");
      f.values_[name].push_back("true");
      continue;
    }
    if (!spec.options.count(name)) return InvalidArgument("unknown option " + name);
    if (!inline_value) {
      if (i + 1 >= args.size()) return InvalidArgument(name + " needs a value");
      value = args[++i];
    }
    if (f.values_.count(name) && !spec.repeatable.count(name)) {
      return InvalidArgument(name + " given twice");
    }
    f.values_[name].push_back(value);
  }
  return f;
}

std::optional<std::string> Flags::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Flags::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

Result<std::string> Flags::Required(const std::string& name) const {
  auto v = Get(name);
  if (!v || v->empty()) return InvalidArgument(name + " is required");
  return *v;
}

Result<int64_t> Flags::Int(const std::string& name, int64_t fallback, int64_t min) const {
  auto v = Get(name);
  if (!v) return fallback;
  try {
    size_t used = 0;
    long long n = std::stoll(*v, &used);
    if (used == v->size() && n >= min) return static_cast<int64_t>(n);
  } catch (const std::exception&) {
  }
  return InvalidArgument(name + " expects an integer >= " + std::to_string(min) + ", got '" + *v +
                         "'");
}

Result<double> Flags::Number(const std::string& name, double fallback) const {
  auto v = Get(name);
  if (!v) return fallback;
  try {
    size_t used = 0;
    double d = std::stod(*v, &used);
    if (used == v->size() && d > 0) return d;
  } catch (const std::exception&) {
  }
  return InvalidArgument(name + " expects a positive number, got '" + *v + "'");
}

int ReportError(const std::string& command, const Status& status, const char* usage) {
  std::cerr << "lorafleet " << command << ": " << status.message() << "\n";
  const bool usage_error = status.code() == StatusCode::kInvalidArgument && usage != nullptr &&
                           status.message().find(':') == std::string::npos;
  if (usage_error) std::cerr << usage;
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace lf::cli
