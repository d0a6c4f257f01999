#include "jobs/sweep_spec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "common/file_util.h"
#include "common/yaml.h"

namespace lf::jobs {
namespace {

Result<SweepSpec> Parse(const std::string& yaml) {
  LF_ASSIGN_OR_RETURN(Json doc, ParseYaml(yaml, "sweep.yaml"));
  return ParseSweepSpec(doc);
}

Result<std::vector<TrialSpec>> Expand(const std::string& yaml, size_t max_trials = 100000) {
  LF_ASSIGN_OR_RETURN(SweepSpec spec, Parse(yaml));
  return ExpandSweep(spec, max_trials);
}

std::vector<TrialSpec> ExpandOk(const std::string& yaml) {
  Result<std::vector<TrialSpec>> trials = Expand(yaml);
  EXPECT_TRUE(trials.ok()) << trials.status().ToString();
  return trials.ok() ? *trials : std::vector<TrialSpec>{};
}

constexpr const char* kBase = R"(
base:
  base_model: m
  data: {train: t.jsonl}
  train: {seed: 7}
)";

std::string Sweep(const std::string& rest) { return std::string(kBase) + rest; }

TEST(SweepSpecTest, GridCrossesListAxesFirstKeySlowest) {
  std::vector<TrialSpec> trials =
      ExpandOk(Sweep("space:\n  train.lr: [1.0e-3, 2.0e-3]\n  lora.r: [1, 2, 4, 8, 16]\n"));
  ASSERT_EQ(trials.size(), 10u);
  const std::vector<int64_t> ranks = {1, 2, 4, 8, 16};
  const std::vector<double> lrs = {1e-3, 2e-3};
  for (size_t i = 0; i < trials.size(); ++i) {
    const TrialSpec& t = trials[i];
    EXPECT_EQ(t.index, i);
    EXPECT_EQ(t.params, (Json{{"lora.r", ranks[i / 2]}, {"train.lr", lrs[i % 2]}})) << i;
    EXPECT_EQ(t.job.lora.r, ranks[i / 2]);
    EXPECT_DOUBLE_EQ(t.job.train.lr, lrs[i % 2]);
    EXPECT_EQ(t.job.train.seed, 7u);  // one repeat: no offset
    EXPECT_EQ(t.job.base_model, "m");
    EXPECT_EQ(t.job.output, "");
  }
}

TEST(SweepSpecTest, NoSpaceIsTheBaseJobOnce) {
  std::vector<TrialSpec> trials = ExpandOk(Sweep(""));
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].params, Json::object());
  EXPECT_EQ(trials[0].job.data.train, "t.jsonl");
}

TEST(SweepSpecTest, NumSamplesRepeatsTheGridWithSeedOffsets) {
  std::vector<TrialSpec> trials = ExpandOk(Sweep("space: {lora.r: [4, 8]}\nnum_samples: 3\n"));
  ASSERT_EQ(trials.size(), 6u);
  const std::vector<int64_t> ranks = {4, 8, 4, 8, 4, 8};
  const std::vector<uint64_t> seeds = {7, 7, 8, 8, 9, 9};
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].params, (Json{{"lora.r", ranks[i]}}));
    EXPECT_EQ(trials[i].job.train.seed, seeds[i]) << i;
  }
  // A swept seed is the user's choice: no offset.
  trials = ExpandOk(Sweep("space: {train.seed: [3, 5]}\nnum_samples: 2\n"));
  ASSERT_EQ(trials.size(), 4u);
  EXPECT_EQ(trials[2].job.train.seed, 3u);
  EXPECT_EQ(trials[3].job.train.seed, 5u);
}

TEST(SweepSpecTest, GridSamplesDistributionAxesPerTrial) {
  std::vector<TrialSpec> trials =
      ExpandOk(Sweep("space:\n  lora.r: [4, 8, 16]\n  lora.dropout: {uniform: [0.05, 0.1]}\n"));
  ASSERT_EQ(trials.size(), 3u);
  std::set<double> dropouts;
  for (const TrialSpec& t : trials) {
    double d = t.params["lora.dropout"].get<double>();
    EXPECT_GE(d, 0.05);
    EXPECT_LE(d, 0.1);
    EXPECT_DOUBLE_EQ(t.job.lora.dropout, d);
    dropouts.insert(d);
  }
  EXPECT_EQ(dropouts.size(), 3u);
}

TEST(SweepSpecTest, RandomSearchIsDeterministicFromTheSeed) {
  const std::string space =
      "space:\n  lora.r: [2, 4, 8]\n  train.lr: {loguniform: [1.0e-5, 1.0e-2]}\n"
      "search: random\nnum_samples: 300\n";
  std::vector<TrialSpec> a = ExpandOk(Sweep(space + "seed: 11\n"));
  std::vector<TrialSpec> b = ExpandOk(Sweep(space + "seed: 11\n"));
  std::vector<TrialSpec> c = ExpandOk(Sweep(space + "seed: 12\n"));
  ASSERT_EQ(a.size(), 300u);
  ASSERT_EQ(c.size(), 300u);
  std::map<int64_t, int> rank_counts;
  size_t same_lr = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].params, b[i].params) << i;
    same_lr += a[i].params["train.lr"] == c[i].params["train.lr"];
    ++rank_counts[a[i].job.lora.r];
    EXPECT_EQ(a[i].job.train.seed, 7u);  // random search does not offset seeds
  }
  EXPECT_EQ(same_lr, 0u);
  // A list axis is a uniform choice: each rank about 100 times in 300.
  ASSERT_EQ(rank_counts.size(), 3u);
  for (const auto& [rank, count] : rank_counts) EXPECT_NEAR(count, 100, 30) << rank;
}

TEST(SweepSpecTest, SamplingIsPinnedAcrossPlatforms) {
  // Golden values, checked against an independent Python SplitMix64: a change here changes the
  // trials of every stored sweep.
  std::vector<TrialSpec> trials =
      ExpandOk(Sweep("space:\n  lora.dropout: {uniform: [0.0, 0.5]}\n  lora.r: {int: [1, 64]}\n"
                     "search: random\nnum_samples: 2\nseed: 0\n"));
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].params.dump(), R"({"lora.dropout":0.3262242431870161,"lora.r":31})");
  EXPECT_EQ(trials[1].params.dump(), R"({"lora.dropout":0.13811679113894731,"lora.r":39})");
}

TEST(SweepSpecTest, LogUniformSpreadsEvenlyOverDecades) {
  std::vector<TrialSpec> trials = ExpandOk(
      Sweep("space: {train.lr: {loguniform: [1.0e-5, 1.0e-1]}}\nsearch: random\nnum_samples: "
            "4000\n"));
  ASSERT_EQ(trials.size(), 4000u);
  std::vector<int> per_decade(4);
  for (const TrialSpec& t : trials) {
    double lr = t.job.train.lr;
    ASSERT_GE(lr, 1e-5);
    ASSERT_LE(lr, 1e-1);
    ++per_decade[std::min(3, static_cast<int>(std::floor(std::log10(lr) + 5)))];
  }
  // Uniform in log space: a quarter in each decade (a uniform draw would put 90% in the last).
  for (int d = 0; d < 4; ++d) EXPECT_NEAR(per_decade[d], 1000, 100) << "decade " << d;
}

TEST(SweepSpecTest, IntAxisIncludesBothEndsAndGivesIntegers) {
  std::vector<TrialSpec> trials =
      ExpandOk(Sweep("space: {lora.r: {int: [1, 4]}}\nsearch: random\nnum_samples: 400\n"));
  std::map<int64_t, int> counts;
  for (const TrialSpec& t : trials) {
    ASSERT_TRUE(t.params["lora.r"].is_number_integer()) << t.params.dump();
    ++counts[t.job.lora.r];
  }
  ASSERT_EQ(counts.size(), 4u);
  EXPECT_EQ(counts.begin()->first, 1);
  EXPECT_EQ(counts.rbegin()->first, 4);
  for (const auto& [r, count] : counts) EXPECT_NEAR(count, 100, 35) << r;
}

TEST(SweepSpecTest, ChoiceAxisPicksWholeValues) {
  std::vector<TrialSpec> trials =
      ExpandOk(Sweep("space: {lora.target_modules: {choice: [[c_attn], [c_attn, c_fc]]}}\n"
                     "search: random\nnum_samples: 50\n"));
  std::set<std::vector<std::string>> seen;
  for (const TrialSpec& t : trials) seen.insert(t.job.lora.target_modules);
  EXPECT_EQ(seen, (std::set<std::vector<std::string>>{{"c_attn"}, {"c_attn", "c_fc"}}));
}

TEST(SweepSpecTest, DottedKeysCreateMissingObjects) {
  // The base has no lora section and no data.eval.
  std::vector<TrialSpec> trials =
      ExpandOk(Sweep("space:\n  lora.dropout: [0.0, 0.1]\n  data.eval: [e1.jsonl]\n"));
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_DOUBLE_EQ(trials[1].job.lora.dropout, 0.1);
  EXPECT_EQ(trials[1].job.lora.r, 8);  // the rest of lora keeps its defaults
  EXPECT_EQ(trials[1].job.data.eval, "e1.jsonl");
  EXPECT_EQ(trials[1].job.data.train, "t.jsonl");
}

TEST(SweepSpecTest, RoundTripsThroughJson) {
  Result<SweepSpec> spec = Parse(Sweep(R"(name: full
space:
  lora.r: [1, 2]
  lora.alpha: {int: [8, 64]}
  train.lr: {loguniform: [1.0e-5, 1.0e-3]}
  lora.dropout: {uniform: [0.0, 0.1]}
  lora.target_modules: {choice: [[c_attn], [c_attn, c_fc]]}
search: random
seed: 9
num_samples: 4
priority: -3
max_retries: 0
max_concurrent: 2
resources: {gpus: 4, memory: 1.5G}
)"));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name, "full");
  ASSERT_EQ(spec->space.size(), 5u);
  EXPECT_EQ(spec->space[0].key, "lora.alpha");  // ordered by key
  EXPECT_EQ(spec->space[0].kind, SearchAxis::Kind::kInt);
  EXPECT_EQ(spec->space[2].kind, SearchAxis::Kind::kGrid);
  EXPECT_EQ(spec->space[3].kind, SearchAxis::Kind::kChoice);
  EXPECT_EQ(spec->space[4].kind, SearchAxis::Kind::kLogUniform);
  EXPECT_EQ(spec->priority, -3);
  EXPECT_EQ(spec->resources.memory_bytes, 1610612736);
  Json json = SweepSpecToJson(*spec);
  EXPECT_EQ(json["resources"]["memory"], 1610612736);
  Result<Json> reread = ParseJson(json.dump(), "stored");
  ASSERT_TRUE(reread.ok());
  Result<SweepSpec> again = ParseSweepSpec(*reread);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *spec);

  // Defaults are written out, and no space stays no space.
  Result<SweepSpec> minimal = Parse(Sweep(""));
  ASSERT_TRUE(minimal.ok());
  Json written = SweepSpecToJson(*minimal);
  EXPECT_EQ(written["search"], "grid");
  EXPECT_EQ(written["max_retries"], 2);
  EXPECT_FALSE(written.contains("space"));
  EXPECT_EQ(*ParseSweepSpec(written), *minimal);
}

TEST(SweepSpecTest, EarlyStoppingIsParsedKeptAndWrittenBack) {
  const std::string evaluated =
      "base:\n  base_model: m\n  data: {train: t.jsonl, eval: e.jsonl}\n"
      "  train: {steps: 200, eval_every: 10}\n";
  Result<SweepSpec> spec = Parse(evaluated + R"(space: {train.lr: [1.0e-4, 1.0e-3]}
early_stopping: {type: asha, metric: eval_loss, mode: min, grace_period: 10, reduction_factor: 3}
)");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  ASSERT_TRUE(spec->early_stopping.has_value());
  EXPECT_EQ(*spec->early_stopping, (AshaConfig{.metric = "eval_loss", .mode = "min",
                                               .grace_period = 10, .reduction_factor = 3}));
  Json written = SweepSpecToJson(*spec);
  EXPECT_EQ(written["early_stopping"],
            (Json{{"type", "asha"}, {"metric", "eval_loss"}, {"mode", "min"},
                  {"grace_period", 10}, {"reduction_factor", 3}}));
  EXPECT_EQ(*ParseSweepSpec(written), *spec);
  EXPECT_EQ(ExpandSweep(*spec)->size(), 2u);
  // Absent: no early stopping, and nothing written.
  Result<SweepSpec> plain = Parse(Sweep(""));
  EXPECT_FALSE(plain->early_stopping.has_value());
  EXPECT_FALSE(SweepSpecToJson(*plain).contains("early_stopping"));
}

TEST(SweepSpecTest, EarlyStoppingNeedsAMetricEveryTrialReports) {
  const std::string block =
      "early_stopping: {type: asha, metric: eval_loss, mode: min, grace_period: 10, "
      "reduction_factor: 3}\n";
  // The base job evaluates only at the end: refused when parsed, telling what to set.
  Result<SweepSpec> never = Parse(
      "base:\n  base_model: m\n  data: {train: t.jsonl, eval: e.jsonl}\n  train: {steps: 100}\n" +
      block);
  ASSERT_FALSE(never.ok());
  EXPECT_NE(never.status().message().find(
                "sweep.early_stopping.metric: eval_loss is reported every train.eval_every steps, "
                "and sweep.base.train.eval_every is 0"),
            std::string::npos)
      << never.status().message();
  EXPECT_NE(never.status().message().find("set train.eval_every"), std::string::npos);
  // A swept eval_every of 0 is found in the trial that has it.
  Result<std::vector<TrialSpec>> swept = Expand(
      "base:\n  base_model: m\n  data: {train: t.jsonl, eval: e.jsonl}\n  train: {steps: 100}\n"
      "space: {train.eval_every: [10, 0]}\n" + block);
  ASSERT_FALSE(swept.ok());
  EXPECT_NE(swept.status().message().find("(trial 1: {\"train.eval_every\":0})"),
            std::string::npos)
      << swept.status().message();
  // A grace period at or past the end leaves no rung.
  Result<SweepSpec> late = Parse(Sweep(
      "early_stopping: {type: asha, metric: loss, mode: min, grace_period: 100, "
      "reduction_factor: 3}\n"));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().message(),
            "sweep.early_stopping.grace_period: 100 is not below sweep.base.train.steps (100), so "
            "no trial reaches a rung; lower grace_period");
  // Block errors name their field under sweep.early_stopping.
  Result<SweepSpec> bad = Parse(Sweep("early_stopping: {type: asha, mode: min}\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "sweep.early_stopping.metric: required field is missing");
}

TEST(SweepSpecTest, ParseByteSize) {
  const std::vector<std::pair<Json, int64_t>> good = {
      {"512MiB", 536870912}, {"8GiB", 8589934592}, {"2GB", 2000000000},
      {"1.5G", 1610612736},  {"1 KiB", 1024},      {"4kb", 4000},
      {"3Gi", 3221225472},   {"100", 100},         {"0", 0},
      {1024, 1024},          {2.0e9, 2000000000},  {"1TiB", 1099511627776}};
  for (const auto& [value, bytes] : good) {
    Result<int64_t> got = ParseByteSize(value, "r.memory");
    ASSERT_TRUE(got.ok()) << value.dump() << ": " << got.status().ToString();
    EXPECT_EQ(*got, bytes) << value.dump();
  }
  const std::vector<std::pair<Json, std::string>> bad = {
      {"lots",
       "r.memory: expected a size such as 512MiB, 8GiB or 2GB, or a number of bytes, "
       "got \"lots\""},
      {"-1GiB", "r.memory: expected a size"},
      {"2 XB", R"(r.memory: unknown unit in "2 XB"; use B, KiB)"},
      {"1.5B", R"(r.memory: expected a whole number of bytes, got "1.5B")"},
      {-1, "r.memory: expected a non-negative integer, got -1"},
      {true, "r.memory: expected a size such as"},
      {"99999999TB", "r.memory: too large"}};
  for (const auto& [value, message] : bad) {
    Result<int64_t> got = ParseByteSize(value, "r.memory");
    ASSERT_FALSE(got.ok()) << value.dump();
    EXPECT_NE(got.status().message().find(message), std::string::npos) << got.status().message();
  }
}

TEST(SweepSpecTest, RefusesMoreThanMaxTrials) {
  const std::string yaml = Sweep(
      "space:\n  lora.r: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n  train.lr: [1, 2, 3, 4, 5, 6, 7, 8, 9, "
      "10]\nnum_samples: 2\n");
  Result<std::vector<TrialSpec>> trials = Expand(yaml, 199);
  ASSERT_FALSE(trials.ok());
  EXPECT_EQ(trials.status().message(),
            "sweep: 200 trials (a grid of 100 times num_samples 2) are more than the limit of 199; "
            "shrink the space or num_samples, or split the sweep");
  ASSERT_TRUE(Expand(yaml, 200).ok());
  EXPECT_EQ(Expand(yaml, 200)->size(), 200u);
}

TEST(SweepSpecTest, ErrorsPointAtTheSpaceKeyAndSuggestDottedKeys) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"space: {lora.rr: [4]}\n",
       "sweep.space.lora.rr: unknown key; expected one of: r, alpha, dropout, target_modules, "
       "rslora, layers_to_transform (did you mean 'lora.r'?)"},
      {"space: {lra.r: [4]}\n", "sweep.space.lra.r: unknown key 'lra'; expected one of: "},
      {"space: {lra.r: [4]}\n", "(did you mean 'lora.r'?)"},
      {"num_sample: 3\n", "(did you mean 'num_samples'?)"},
      {"space: {lora.r: [8, 4.5]}\n", "sweep.space.lora.r[1]: expected an integer"},
      {"space: {lora.dropout: {uniform: [0.0, 1.5]}}\n",
       "sweep.space.lora.dropout.uniform[1]: expected a number >= 0 and <= 0.999, got 1.5"},
      {"space: {lora.r: {int: [0, 8]}}\n",
       "sweep.space.lora.r.int[0]: expected an integer from 1 to 65536, got 0"},
      {"space: {train.lr: {loguniform: [1.0e-5]}}\n",
       "sweep.space.train.lr.loguniform: expected [low, high], got a list of 1"},
      {"space: {train.lr: {uniform: [1, 2], int: [1, 2]}}\n",
       "sweep.space.train.lr: give exactly one of uniform, loguniform, int, choice"},
      {"space: {lora..r: [4]}\n", "sweep.space.lora..r: expected a dotted key into the base job"},
      {"space: {lora.target_modules: {choice: [[c_attn], []]}}\n",
       "sweep.space.lora.target_modules.choice[1]: must name at least one module"},
      {"priority: 3000000000\n", "sweep.priority: expected an integer from -2147483648 to"},
      {"max_concurrent: -1\n", "sweep.max_concurrent: expected an integer from 0 to"},
      {"- a list\n", "sweep: expected a sweep (a mapping), got a list"},
  };
  for (const auto& [yaml, message] : cases) {
    std::string doc = yaml.starts_with("- ") ? yaml : Sweep(yaml);
    Result<std::vector<TrialSpec>> trials = Expand(doc);
    ASSERT_FALSE(trials.ok()) << yaml;
    EXPECT_EQ(trials.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(trials.status().message().find(message), std::string::npos)
        << "got: " << trials.status().message() << "\nwant: " << message;
  }
}

TEST(SweepSpecTest, RootNamesTheDocument) {
  Result<Json> doc = ParseYaml(Sweep("space: {lora.r: [0]}\n"), "request");
  ASSERT_TRUE(doc.ok());
  Result<SweepSpec> spec = ParseSweepSpec(*doc, "request.sweep");
  ASSERT_FALSE(spec.ok());
  EXPECT_TRUE(spec.status().message().starts_with("request.sweep.space.lora.r[0]: "))
      << spec.status().message();
}

TEST(SweepSpecTest, ExpandChecksASpecBuiltInCode) {
  Result<SweepSpec> spec = Parse(Sweep(""));
  ASSERT_TRUE(spec.ok());
  SweepSpec built = *spec;
  built.space.push_back(
      {.key = "train.lr", .kind = SearchAxis::Kind::kUniform, .low = 1, .high = 0});
  Result<std::vector<TrialSpec>> trials = ExpandSweep(built);
  ASSERT_FALSE(trials.ok());
  EXPECT_NE(trials.status().message().find("sweep.space.train.lr.uniform: low (1.0) must be less "
                                           "than high (0.0)"),
            std::string::npos)
      << trials.status().message();
}

TEST(ResolveJobPathsTest, JoinsRelativePathsOnly) {
  JobSpec job;
  job.base_model = "examples/models/tiny-gpt2";
  job.data.train = "/data/train.jsonl";
  job.data.eval = "";
  ResolveJobPaths(&job, "/home/u/lorafleet");
  EXPECT_EQ(job.base_model, "/home/u/lorafleet/examples/models/tiny-gpt2");
  EXPECT_EQ(job.data.train, "/data/train.jsonl");
  EXPECT_EQ(job.data.eval, "");
  job.data.eval = "../shared/./eval.jsonl";
  ResolveJobPaths(&job, "/home/u/lorafleet/");
  EXPECT_EQ(job.data.eval, "/home/u/shared/eval.jsonl");
  EXPECT_EQ(job.base_model, "/home/u/lorafleet/examples/models/tiny-gpt2");  // already absolute
}

// Each testdata/bad_sweeps/*.yaml is a realistic sweep with one defect; its first line is
// "# expect: <part of the error message>".
std::vector<std::filesystem::path> Corpus(const std::string& folder) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(LF_TEST_SRCDIR "/testdata/" + folder)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string FirstLineAfter(const std::string& text, std::string_view prefix) {
  if (!text.starts_with(prefix)) return "";
  return text.substr(prefix.size(), text.find('\n') - prefix.size());
}

TEST(SweepCorpusTest, EveryBadSweepFailsWithItsMessage) {
  std::vector<std::filesystem::path> files = Corpus("bad_sweeps");
  ASSERT_GE(files.size(), 25u);
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    Result<std::string> text = ReadFileToString(path.string());
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    std::string expect = FirstLineAfter(*text, "# expect: ");
    ASSERT_FALSE(expect.empty()) << "the first line must be '# expect: <message part>'";
    Result<Json> doc = ParseYaml(*text, path.filename().string());
    ASSERT_TRUE(doc.ok()) << "the defect must be in the sweep, not the YAML: "
                          << doc.status().ToString();
    Result<SweepSpec> spec = ParseSweepSpec(*doc);
    Status status = spec.ok() ? ExpandSweep(*spec).status() : spec.status();
    ASSERT_FALSE(status.ok()) << "parsed and expanded without an error";
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(expect), std::string::npos)
        << "got: " << status.message() << "\nwant: " << expect;
  }
}

TEST(SweepCorpusTest, EveryGoodSweepExpands) {
  std::vector<std::filesystem::path> files = Corpus("good_sweeps");
  ASSERT_GE(files.size(), 3u);
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    Result<std::string> text = ReadFileToString(path.string());
    ASSERT_TRUE(text.ok());
    Result<std::vector<TrialSpec>> trials = Expand(*text);
    ASSERT_TRUE(trials.ok()) << trials.status().ToString();
    EXPECT_EQ(std::to_string(trials->size()), FirstLineAfter(*text, "# trials: "));
    Result<SweepSpec> spec = Parse(*text);
    EXPECT_EQ(*ParseSweepSpec(SweepSpecToJson(*spec)), *spec);
  }
}

}  // namespace
}  // namespace lf::jobs
