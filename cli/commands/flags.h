// A small command-line parser shared by the commands: "--name value" options (some repeatable),
// "--switch" booleans and positional arguments; anything else is a usage error naming it.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace lf::cli {

struct FlagSpec {
  std::set<std::string> options;     // take a value: "--base"
  std::set<std::string> switches;    // no value: "--json"
  std::set<std::string> repeatable;  // options that may be given more than once
  size_t max_positional = 0;
};

class Flags {
 public:
  static Result<Flags> Parse(const std::vector<std::string>& args, const FlagSpec& spec);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  Result<std::string> Required(const std::string& name) const;
  Result<int64_t> Int(const std::string& name, int64_t fallback, int64_t min) const;
  Result<double> Number(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Prints "lorafleet <command>: <message>" (and the usage for usage errors); returns the exit
// code: 2 for bad arguments, 1 for everything else.
int ReportError(const std::string& command, const Status& status, const char* usage = nullptr);

}  // namespace lf::cli
