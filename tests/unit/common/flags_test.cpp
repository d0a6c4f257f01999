#include "common/flags.h"

#include <gtest/gtest.h>

#include <sstream>

namespace lf::flags {
namespace {

struct Outcome {
  std::optional<int> rc;
  std::string out, err;
};
Outcome ParseWith(CLI::App& app, const std::vector<std::string>& args) {
  std::ostringstream out, err;
  std::optional<int> rc = Parse(app, args, out, err);
  return {rc, out.str(), err.str()};
}

TEST(FlagsTest, HelpShowsOptionsWithDefaultsAndExitsZero) {
  int64_t steps = 30;
  auto app = MakeApp("tool", "Does a thing.");
  app->add_option("--steps", steps, "how many")->check(IntAtLeast(1));
  Outcome o = ParseWith(*app, {"--help"});
  EXPECT_EQ(o.rc, 0);
  EXPECT_NE(o.out.find("Does a thing."), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Usage: tool"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("--steps"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("=30"), std::string::npos) << o.out;  // the default
  EXPECT_EQ(o.err, "");
}

TEST(FlagsTest, VersionPrintsAndExitsZero) {
  auto app = MakeApp("tool", "");
  app->set_version_flag("--version", "tool 1.2.3");
  Outcome o = ParseWith(*app, {"--version"});
  EXPECT_EQ(o.rc, 0);
  EXPECT_EQ(o.out, "tool 1.2.3\n");
}

TEST(FlagsTest, AnUnexpectedWordIsReportedBeforeAMissingRequiredFlag) {
  std::string data;
  auto app = MakeApp("tool", "");
  app->add_option("--data", data, "")->required();
  Outcome o = ParseWith(*app, {"--dat", "x"});
  EXPECT_EQ(o.rc, kUsageExitCode);
  EXPECT_EQ(o.err,
            "tool: The following arguments were not expected: --dat x\n"
            "run `tool --help` for the options\n");

  o = ParseWith(*app, {});
  EXPECT_EQ(o.rc, kUsageExitCode);
  EXPECT_EQ(o.err, "tool: --data is required\nrun `tool --help` for the options\n");
}

TEST(FlagsTest, ValidatorsStateTheRuleAndTheValue) {
  int64_t n = 0;
  double s = 1;
  auto app = MakeApp("tool", "");
  app->add_option("--n", n, "")->check(IntAtLeast(2));
  app->add_option("--s", s, "")->check(PositiveNumber());
  EXPECT_EQ(ParseWith(*app, {"--n", "2", "--s", "0.5"}).rc, std::nullopt);
  EXPECT_EQ(n, 2);
  EXPECT_DOUBLE_EQ(s, 0.5);
  for (const std::string bad : {"1", "3x", "", "two"}) {
    Outcome o = ParseWith(*app, {"--n", bad});
    EXPECT_EQ(o.rc, kUsageExitCode) << bad;
    EXPECT_NE(o.err.find("--n: expected an integer >= 2, got '" + bad + "'"), std::string::npos)
        << o.err;
  }
  for (const std::string bad : {"0", "-1", "1s", "nan?"}) {
    Outcome o = ParseWith(*app, {"--s", bad});
    EXPECT_EQ(o.rc, kUsageExitCode) << bad;
    EXPECT_NE(o.err.find("--s: expected a positive number, got '" + bad + "'"), std::string::npos)
        << o.err;
  }
}

TEST(FlagsTest, ASubcommandsErrorsAndHelpCarryItsFullName) {
  bool json = false;
  std::string sweep;
  auto app = MakeApp("store", "");
  app->add_flag("--json", json, "");
  app->fallthrough();
  CLI::App* trials = app->add_subcommand("trials", "list trials");
  trials->add_option("--sweep", sweep, "");

  Outcome o = ParseWith(*app, {"trials", "--sweep", "s", "--json"});
  EXPECT_EQ(o.rc, std::nullopt) << o.err;
  EXPECT_EQ(sweep, "s");
  EXPECT_TRUE(json);  // a parent's flag after the subcommand

  o = ParseWith(*app, {"trials", "--help"});
  EXPECT_EQ(o.rc, 0);
  EXPECT_NE(o.out.find("Usage: store trials"), std::string::npos) << o.out;

  o = ParseWith(*app, {"trials", "--colour"});
  EXPECT_EQ(o.rc, kUsageExitCode);
  EXPECT_NE(o.err.find("--colour"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("run `store"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace lf::flags
