#include "cli/commands/command_flags.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <sstream>

namespace lf::cli {
namespace {

// Parses `args` with `app`, keeping what it prints.
struct Outcome {
  std::optional<int> rc;
  std::string out, err;
};
Outcome ParseWith(CLI::App& app, const std::vector<std::string>& args) {
  std::ostringstream out, err;
  std::optional<int> rc = flags::Parse(app, args, out, err);
  return {rc, out.str(), err.str()};
}

// Every command: how to make its app (over flags that live as long as the test), the flags
// its help documents, and a command line using all of them that must parse.
struct Command {
  std::string name;
  std::function<AppPtr()> make;
  std::vector<std::string> documented;
  std::vector<std::string> full_line;
};

template <typename F>
std::function<AppPtr()> Maker(AppPtr (*factory)(F&)) {
  return [factory] {
    static F flags;
    flags = F();
    return factory(flags);
  };
}

const std::string kSweep = "01hzy3d0rq6v8m2k4n5p7s9t1w";
const std::string kTrial = kSweep + "-000001";

std::vector<Command> AllCommands() {
  const std::vector<std::string> remote = {"--url", "--home", "--json"};
  const auto with_remote = [&](std::vector<std::string> v) {
    v.insert(v.end(), remote.begin(), remote.end());
    return v;
  };
  const std::vector<std::string> remote_line = {"--url", "http://h:1", "--home", "/h", "--json"};
  const auto line = [&](std::vector<std::string> v) {
    v.insert(v.end(), remote_line.begin(), remote_line.end());
    return v;
  };
  const auto listing = [](const std::string& name) {
    return [name] {
      static RemoteFlags flags;
      flags = RemoteFlags();
      return ListingApp(name, "", flags);
    };
  };
  const auto id_app = [](const std::string& name) {
    return [name] {
      static IdFlags flags;
      flags = IdFlags();
      return IdApp(name, "SWEEP|TRIAL", "", flags);
    };
  };
  return {
      {"inspect", Maker(InspectApp), {"--json"}, {"f.safetensors", "--json"}},
      {"train",
       Maker(TrainApp),
       {"--out", "--no-resume", "--quiet", "--json"},
       {"job.yaml", "--out", "o", "--no-resume", "--quiet", "--json"}},
      {"pretrain",
       Maker(PretrainApp),
       {"--data", "--eval", "--out", "--arch", "--tokenizer", "--layers", "--hidden", "--heads",
        "--kv-heads", "--intermediate", "--seq-len", "--steps", "--batch-size", "--lr", "--warmup",
        "--schedule", "--seed", "--eval-every", "--checkpoint-every", "--no-resume", "--quiet",
        "--json"},
       {"--data", "d.jsonl", "--eval", "e.jsonl", "--out", "o", "--arch", "llama", "--tokenizer",
        "t", "--layers", "2", "--hidden", "32", "--heads", "4", "--kv-heads", "2",
        "--intermediate", "64", "--seq-len", "16", "--steps", "10", "--batch-size", "2", "--lr",
        "0.01", "--warmup", "1", "--schedule", "linear", "--seed", "3", "--eval-every", "5",
        "--checkpoint-every", "5", "--no-resume", "--quiet", "--json"}},
      {"eval",
       Maker(EvalApp),
       {"--base", "--adapter", "--data", "--logits", "--json"},
       {"--base", "b", "--adapter", "a", "--data", "d", "--logits", "l", "--json"}},
      {"tokenize", Maker(TokenizeApp), {"--tokenizer", "--json"}, {"--tokenizer", "t", "--json"}},
      {"generate",
       Maker(GenerateApp),
       {"--base", "--adapter", "--prompt", "--max-new-tokens", "--chat"},
       {"--base", "b", "--adapter", "a", "--prompt", "p", "--max-new-tokens", "3", "--chat"}},
      {"merge",
       Maker(MergeApp),
       {"--base", "--adapter", "--out"},
       {"--base", "b", "--adapter", "a", "--out", "o"}},
      {"up",
       Maker(UpApp),
       {"--workers", "--hostfile", "--home", "--http", "--worker-endpoint", "--heartbeat-timeout",
        "--max-pack", "--open-reads", "--json"},
       {"--workers", "0", "--home", "h", "--http", "127.0.0.1:0", "--worker-endpoint",
        "tcp://127.0.0.1:0", "--heartbeat-timeout", "2.5", "--max-pack", "3", "--open-reads",
        "--json"}},
      {"down", Maker(DownApp), {"--home"}, {"--home", "h"}},
      {"sweeps", listing("sweeps"), remote, line({})},
      {"queue", listing("queue"), remote, line({})},
      {"workers", listing("workers"), remote, line({})},
      {"status", id_app("status"), remote, line({kSweep})},
      {"cancel", id_app("cancel"), remote, line({kTrial})},
      {"pause", id_app("pause"), remote, line({kSweep})},
      {"resume", id_app("resume"), remote, line({kSweep})},
      {"logs", Maker(LogsApp), with_remote({"--follow"}), line({kTrial, "-f"})},
      {"submit", Maker(SubmitApp), with_remote({"--wait"}), line({"s.yaml", "--wait"})},
      {"priority", Maker(PriorityApp), remote, line({kSweep, "-3"})},
      {"adapters", Maker(AdaptersApp), with_remote({"--tag"}), line({"--tag", "prod"})},
      {"tag", Maker(TagApp), remote, line({kTrial, "prod"})},
      {"compare",
       Maker(CompareApp),
       with_remote({"--csv", "--md", "--plot", "--plot-x"}),
       {kSweep, kSweep, "--csv", "--plot", "p.svg", "--plot-x", "lora.r", "--url", "u"}},
      {"export", Maker(ExportApp), with_remote({"--force"}), line({kTrial, "dir", "--force"})},
  };
}

TEST(CommandFlagsTest, EveryCommandsHelpNamesItsFlagsAndExitsZero) {
  for (const Command& c : AllCommands()) {
    SCOPED_TRACE(c.name);
    AppPtr app = c.make();
    Outcome o = ParseWith(*app, {"--help"});
    EXPECT_EQ(o.rc, 0);
    EXPECT_EQ(o.err, "");
    EXPECT_NE(o.out.find("lorafleet " + c.name), std::string::npos) << o.out;
    for (const std::string& flag : c.documented) {
      EXPECT_NE(o.out.find(flag), std::string::npos) << flag << " missing from\n" << o.out;
    }
  }
}

TEST(CommandFlagsTest, EveryCommandAcceptsItsDocumentedFlags) {
  for (const Command& c : AllCommands()) {
    SCOPED_TRACE(c.name);
    AppPtr app = c.make();
    Outcome o = ParseWith(*app, c.full_line);
    EXPECT_EQ(o.rc, std::nullopt) << o.err;
  }
}

TEST(CommandFlagsTest, EveryCommandRejectsAnUnknownFlagWithExitCodeTwoAndAHint) {
  for (const Command& c : AllCommands()) {
    SCOPED_TRACE(c.name);
    AppPtr app = c.make();
    std::vector<std::string> args = c.full_line;
    args.push_back("--frobnicate");
    Outcome o = ParseWith(*app, args);
    EXPECT_EQ(o.rc, 2);
    EXPECT_EQ(o.out, "");
    EXPECT_NE(o.err.find("lorafleet " + c.name + ": "), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("--frobnicate"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("run `lorafleet " + c.name + " --help`"), std::string::npos) << o.err;
  }
}

TEST(CommandFlagsTest, UpDefaultsAndValues) {
  UpFlags f;
  AppPtr app = UpApp(f);
  ASSERT_EQ(ParseWith(*app, {}).rc, std::nullopt);
  EXPECT_EQ(f.workers, 2);
  EXPECT_EQ(f.http, "127.0.0.1:7070");
  EXPECT_FALSE(f.heartbeat_timeout.has_value());
  EXPECT_FALSE(f.max_pack.has_value());
  EXPECT_FALSE(f.worker_endpoint.has_value());

  UpFlags g;
  app = UpApp(g);
  ASSERT_EQ(ParseWith(*app, {"--workers=4", "--heartbeat-timeout", "2.5", "--max-pack", "0"}).rc,
            std::nullopt);
  EXPECT_EQ(g.workers, 4);
  EXPECT_EQ(g.heartbeat_timeout, "2.5");  // handed to lorafleetd as written
  EXPECT_EQ(g.max_pack, 0);
}

TEST(CommandFlagsTest, BadValuesNameTheFlagAndTheValue) {
  const std::filesystem::path missing =
      std::filesystem::temp_directory_path() / "lf_command_flags_test_no_such_hostfile";
  struct Bad {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {{"--workers", "-1"}, "lorafleet up: --workers: expected an integer >= 0, got '-1'"},
           {{"--workers", "two"}, "--workers: expected an integer >= 0, got 'two'"},
           {{"--heartbeat-timeout", "0"}, "--heartbeat-timeout: expected a positive number, got '0'"},
           {{"--max-pack", "lots"}, "--max-pack: expected an integer >= 0, got 'lots'"},
           {{"--hostfile", missing.string()}, "--hostfile: File does not exist: " + missing.string()},
           {{"--workers"}, "--workers: 1 required"},
           {{"--http", "a", "--http", "b"}, "--http"},
       }) {
    SCOPED_TRACE(bad.args.front());
    UpFlags f;
    AppPtr app = UpApp(f);
    Outcome o = ParseWith(*app, bad.args);
    EXPECT_EQ(o.rc, 2);
    EXPECT_NE(o.err.find(bad.message), std::string::npos) << o.err;
  }
}

TEST(CommandFlagsTest, RequiredFlagsAndArgumentsAreNamedWhenMissing) {
  EvalFlags eval;
  AppPtr app = EvalApp(eval);
  Outcome o = ParseWith(*app, {"--base", "b"});
  EXPECT_EQ(o.rc, 2);
  EXPECT_NE(o.err.find("lorafleet eval: --data is required"), std::string::npos) << o.err;

  TrainFlags train;
  app = TrainApp(train);
  o = ParseWith(*app, {});
  EXPECT_EQ(o.rc, 2);
  EXPECT_NE(o.err.find("JOB.yaml is required"), std::string::npos) << o.err;

  TrainFlags two;
  app = TrainApp(two);
  o = ParseWith(*app, {"a.yaml", "b.yaml"});
  EXPECT_EQ(o.rc, 2);
  EXPECT_NE(o.err.find("b.yaml"), std::string::npos) << o.err;

  ExportFlags exp;
  app = ExportApp(exp);
  o = ParseWith(*app, {kTrial});
  EXPECT_EQ(o.rc, 2);
  EXPECT_NE(o.err.find("DIR is required"), std::string::npos) << o.err;
}

TEST(CommandFlagsTest, PretrainDefaultsAreItsOwnAndWarmupFollowsSteps) {
  PretrainFlags f;
  AppPtr app = PretrainApp(f);
  ASSERT_EQ(ParseWith(*app, {"--data", "d", "--out", "o"}).rc, std::nullopt);
  EXPECT_EQ(f.spec.train.steps, 1000);
  EXPECT_EQ(f.spec.train.batch_size, 16);
  EXPECT_DOUBLE_EQ(f.spec.train.lr, 1e-3);
  EXPECT_EQ(f.spec.train.schedule, jobs::Schedule::kCosine);
  EXPECT_EQ(f.spec.layers, worker::PretrainSpec().layers);
  EXPECT_FALSE(f.warmup.has_value());  // the command makes it steps / 20

  PretrainFlags g;
  app = PretrainApp(g);
  Outcome o = ParseWith(*app, {"--data", "d", "--out", "o", "--hidden", "4"});
  EXPECT_EQ(o.rc, 2);
  EXPECT_NE(o.err.find("--hidden: expected an integer >= 8, got '4'"), std::string::npos) << o.err;
  PretrainFlags h;
  app = PretrainApp(h);
  o = ParseWith(*app, {"--data", "d", "--out", "o", "--lr", "-1"});
  EXPECT_EQ(o.rc, 2);
  EXPECT_NE(o.err.find("--lr: expected a positive number, got '-1'"), std::string::npos) << o.err;
}

TEST(CommandFlagsTest, GenerateTakesAdapterOnceEachTimeInOrder) {
  GenerateFlags f;
  AppPtr app = GenerateApp(f);
  ASSERT_EQ(ParseWith(*app, {"--base", "b", "--adapter", "a1", "--prompt", "p", "--adapter", "a2"}).rc,
            std::nullopt);
  EXPECT_EQ(f.adapters, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(f.max_new_tokens, 64);
  EXPECT_FALSE(f.chat);

  GenerateFlags g;
  app = GenerateApp(g);
  Outcome o = ParseWith(*app, {"--base", "b", "--prompt", "p", "--max-new-tokens", "0"});
  EXPECT_EQ(o.rc, 2);
  EXPECT_NE(o.err.find("--max-new-tokens: expected an integer >= 1, got '0'"), std::string::npos);
}

TEST(CommandFlagsTest, RemoteCommandsTakeUrlHomeAndJsonAnywhere) {
  IdFlags f;
  AppPtr app = IdApp("status", "SWEEP|TRIAL", "", f);
  ASSERT_EQ(ParseWith(*app, {"--json", kSweep, "--url=http://h:1", "--home", "/h"}).rc, std::nullopt);
  EXPECT_EQ(f.id, kSweep);
  EXPECT_EQ(f.remote.url, "http://h:1");
  EXPECT_EQ(f.remote.home, "/h");
  EXPECT_TRUE(f.remote.json);

  IdFlags none;
  app = IdApp("status", "SWEEP|TRIAL", "", none);
  ASSERT_EQ(ParseWith(*app, {kSweep}).rc, std::nullopt);
  EXPECT_FALSE(none.remote.url.has_value());
  EXPECT_FALSE(none.remote.home.has_value());
}

TEST(CommandFlagsTest, LogsFollowsWithTheShortOrTheLongForm) {
  for (const char* flag : {"-f", "--follow"}) {
    LogsFlags f;
    AppPtr app = LogsApp(f);
    ASSERT_EQ(ParseWith(*app, {kSweep, flag}).rc, std::nullopt);
    EXPECT_TRUE(f.follow);
  }
}

TEST(CommandFlagsTest, CompareTakesSeveralSweepsAndOneOutputFormat) {
  CompareFlags f;
  AppPtr app = CompareApp(f);
  ASSERT_EQ(ParseWith(*app, {kSweep, "--md", kSweep}).rc, std::nullopt);
  EXPECT_EQ(f.sweeps.size(), 2u);
  EXPECT_TRUE(f.md);

  for (const std::vector<std::string>& both :
       {std::vector<std::string>{"--csv", "--md"}, {"--json", "--csv"}, {"--md", "--json"}}) {
    CompareFlags g;
    app = CompareApp(g);
    std::vector<std::string> args = {kSweep};
    args.insert(args.end(), both.begin(), both.end());
    Outcome o = ParseWith(*app, args);
    EXPECT_EQ(o.rc, 2) << both[0] << " " << both[1];
    EXPECT_NE(o.err.find("excludes"), std::string::npos) << o.err;
  }
}

TEST(CommandFlagsTest, PriorityIsAnIntegerAndMayBeNegative) {
  PriorityFlags f;
  AppPtr app = PriorityApp(f);
  ASSERT_EQ(ParseWith(*app, {kSweep, "-5"}).rc, std::nullopt);
  EXPECT_EQ(f.priority, -5);

  PriorityFlags g;
  app = PriorityApp(g);
  Outcome o = ParseWith(*app, {kSweep, "high"});
  EXPECT_EQ(o.rc, 2);
  EXPECT_NE(o.err.find("high"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace lf::cli
