#include "cli/commands/views.h"

#include "jobs/compare.h"

#include <gtest/gtest.h>

namespace lf::cli {
namespace {

Json Row(const std::string& id, const std::string& state, Json eval_loss,
         Json params = Json::object()) {
  return {{"trial_id", id},
          {"state", state},
          {"method", "lora"},
          {"r", 4},
          {"alpha", 8},
          {"lr", 0.002},
          {"params", params},
          {"trainable_params", 1234},
          {"trainable_pct", 0.5},
          {"adapter_bytes", 2500000},
          {"eval_loss", eval_loss},
          {"perplexity", nullptr},
          {"tokens_per_s", 5234.4},
          {"wall_s", 12.34},
          {"steps", 100}};
}

TEST(ViewsTest, RepeatsTableShowsEachConfigurationsIntervalAndVerdict) {
  const Json repeats = Json::array(
      {{{"params", {{"lora.r", 8}}},
        {"n", 3},
        {"eval_loss", {{"n", 3}, {"mean", 1.2}, {"stddev", 0.2}, {"low", 0.703}, {"high", 1.697}}},
        {"versus_best", "best"}},
       {{"params", {{"lora.r", 4}, {"data.train", "a.jsonl"}}},
        {"n", 3},
        {"eval_loss", {{"n", 3}, {"mean", 1.25}, {"stddev", 0.3}, {"low", 0.5}, {"high", 2.0}}},
        {"versus_best", "indistinct"}},
       {{"params", {{"lora.r", 2}}},
        {"n", 2},
        {"eval_loss", {{"n", 1}, {"mean", 3.0}, {"stddev", 0}, {"low", nullptr}, {"high", nullptr}}},
        {"versus_best", "unknown"}}});
  const std::string text = RepeatsTable(repeats).RenderText();
  EXPECT_NE(text.find("lora.r=8"), std::string::npos) << text;
  EXPECT_NE(text.find("[0.7030, 1.6970]"), std::string::npos) << text;
  EXPECT_NE(text.find("best"), std::string::npos);
  EXPECT_NE(text.find("data.train=a.jsonl lora.r=4"), std::string::npos) << text;
  EXPECT_NE(text.find("not distinguishable"), std::string::npos);
  const std::string csv = RepeatsTable(repeats).RenderCsv();
  EXPECT_NE(csv.find("lora.r=2,2,3.0000,-,-"), std::string::npos) << csv;
}

TEST(ViewsTest, CompareTableKeepsTheCoordinatorsOrder) {
  const Json rows = Json::array({Row("t4", "completed", 1.5), Row("t2", "completed", 2.5),
                                 Row("t1", "running", nullptr)});
  const Table t = CompareTable(rows, /*raw=*/true);
  const std::string csv = t.RenderCsv();
  EXPECT_LT(csv.find("t4,"), csv.find("t2,"));
  EXPECT_LT(csv.find("t2,"), csv.find("t1,"));
}

TEST(ViewsTest, CompareTableFormatsAndShowsExtraSweptKeys) {
  const Json rows =
      Json::array({Row("t1", "completed", 2.13456, {{"lora.r", 4}, {"lora.dropout", 0.05}}),
                   Row("t2", "queued", nullptr, {{"lora.r", 8}, {"train.batch_size", 16}})});
  EXPECT_EQ(ExtraParamKeys(rows), (std::vector<std::string>{"lora.dropout", "train.batch_size"}));
  const std::string text = CompareTable(rows, /*raw=*/false).RenderText();
  EXPECT_NE(text.find("trainable"), std::string::npos);
  EXPECT_NE(text.find("1234"), std::string::npos);
  EXPECT_NE(text.find("0.50%"), std::string::npos);
  EXPECT_NE(text.find("2.1346"), std::string::npos);
  EXPECT_NE(text.find("2.5 MB"), std::string::npos);  // adapter
  EXPECT_NE(text.find("5234"), std::string::npos);    // tok/s
  EXPECT_NE(text.find("0.002"), std::string::npos);   // lr
  EXPECT_NE(text.find("lora.dropout"), std::string::npos);
  // The CSV has every column of jobs::CompareColumns, by key, then the extra swept keys.
  const std::string csv = CompareTable(rows, /*raw=*/true).RenderCsv();
  std::string header;
  for (const jobs::CompareColumn& c : jobs::CompareColumns()) {
    header += (header.empty() ? "" : ",") + std::string(c.key);
  }
  EXPECT_EQ(csv.substr(0, csv.find('\n')), header + ",lora.dropout,train.batch_size");
  EXPECT_NE(csv.find("t1,completed,lora,4,8,0.002,2.13456,"), std::string::npos) << csv;
  // Without a general eval set or a full baseline, those columns stay out of the text table.
  EXPECT_EQ(text.find("forgetting"), std::string::npos);
  EXPECT_EQ(text.find("cost vs full"), std::string::npos);
}

TEST(ViewsTest, CompareTableShowsForgettingAndCostAgainstFullFineTuning) {
  Json lora = Row("t1", "completed", 1.5);
  lora["forgetting"] = 0.0123;
  lora["device_s_vs_full"] = 0.25;
  Json full = Row("t2", "completed", 1.2);
  full["method"] = "full";
  full["forgetting"] = -0.5;
  full["device_s_vs_full"] = 1.0;
  const std::string text = CompareTable(Json::array({lora, full}), /*raw=*/false).RenderText();
  EXPECT_NE(text.find("forgetting"), std::string::npos) << text;
  EXPECT_NE(text.find("cost vs full"), std::string::npos) << text;
  EXPECT_NE(text.find("+0.0123"), std::string::npos) << text;
  EXPECT_NE(text.find("-0.5000"), std::string::npos) << text;
  EXPECT_NE(text.find("0.25x"), std::string::npos) << text;
}

TEST(ViewsTest, AdaptersTableShowsTagsAndFallsBackToTheSweepId) {
  const Json adapters = Json::array(
      {{{"trial_id", "s1-000001"}, {"tags", {"best", "prod"}}, {"sweep_id", "s1"},
        {"sweep_name", "ranks"}, {"method", "lora"}, {"base_model", "/m/tiny"},
        {"eval_loss", 0.73912}, {"adapter_bytes", 790000}},
       {{"trial_id", "s2-000000"}, {"tags", Json::array()}, {"sweep_id", "s2"},
        {"sweep_name", nullptr}, {"method", "dora"}, {"base_model", "/m/tiny"},
        {"eval_loss", nullptr}, {"adapter_bytes", nullptr}}});
  const std::string text = AdaptersTable(adapters).RenderText();
  EXPECT_NE(text.find("best,prod"), std::string::npos) << text;
  EXPECT_NE(text.find("ranks"), std::string::npos) << text;
  EXPECT_NE(text.find("0.7391"), std::string::npos) << text;
  EXPECT_NE(text.find("0.79"), std::string::npos) << text;
  EXPECT_NE(text.find("s2 "), std::string::npos) << text;  // no name: the sweep id
}

TEST(ViewsTest, CountsLineInLifecycleOrder) {
  EXPECT_EQ(CountsLine(Json::parse(R"({"completed": 1, "queued": 3, "running": 2, "failed": 0})")),
            "3 queued, 2 running, 1 completed");
  EXPECT_EQ(CountsLine(Json::object()), "no trials");
  EXPECT_EQ(CountsLine(Json::parse(R"({"queued": 1, "paused": 2})")), "1 queued, 2 paused");
}

TEST(ViewsTest, FinalStates) {
  EXPECT_EQ(TrialStateOf(Json{{"state", "stopped"}}), jobs::TrialState::kStopped);
  EXPECT_EQ(TrialStateOf(Json{{"state", "exploded"}}), std::nullopt);
  EXPECT_EQ(TrialStateOf(Json::object()), std::nullopt);
  EXPECT_TRUE(IsFinalSweep(Json{{"state", "finished"}}));
  EXPECT_FALSE(IsFinalSweep(Json{{"state", "paused"}}));
  EXPECT_FALSE(IsFinalSweep(Json{{"state", "???"}}));
}

TEST(ViewsTest, MetricLinesGroupByStep) {
  const std::vector<MetricPoint> points = {
      {"s-000001", 10, "grad_norm", 0.5, 1}, {"s-000001", 10, "lr", 0.002, 1},
      {"s-000001", 10, "loss", 2.13412, 1},  {"s-000001", 10, "tokens_per_s", 5234.4, 1},
      {"s-000001", 20, "loss", 1.5, 2},      {"s-000002", 10, "loss", 3.0, 3}};
  EXPECT_EQ(MetricLines(points, false),
            (std::vector<std::string>{"step 10 loss 2.134 lr 0.002 tokens/s 5234 grad_norm 0.5",
                                      "step 20 loss 1.5", "step 10 loss 3"}));
  EXPECT_EQ(MetricLines(points, true)[2], "s-000002 step 10 loss 3");
  EXPECT_EQ(FormatMetric("lr", 2e-5), "2e-05");
  EXPECT_EQ(FormatMetric("eval_loss", 0.012345), "0.01235");
}

TEST(ViewsTest, ListingTables) {
  const Json sweeps =
      Json::parse(R"([{"id": "01abc", "name": "ranks", "owner": "me", "state": "active",
    "priority": 5, "trial_count": 6, "created_ms": 0,
    "counts": {"queued": 2, "assigned": 1, "running": 1, "completed": 2}}])");
  const std::string text = SweepsTable(sweeps).RenderText();
  EXPECT_NE(text.find("01abc  ranks  me     active"), std::string::npos) << text;
  const Json workers = Json::parse(R"([{"id": "h/0/1", "rank": 0, "host": "h", "device": "cpu",
    "memory_bytes": 8000000000, "state": "idle", "trial": "", "step": 0, "tokens_per_s": 0,
    "last_heartbeat_s": 0.42, "connected_s": 100}])");
  const std::string wt = WorkersTable(workers).RenderText();
  EXPECT_NE(wt.find("8.0 GB"), std::string::npos) << wt;
  EXPECT_NE(wt.find("0.4s ago"), std::string::npos) << wt;
  EXPECT_NE(wt.find("1:40"), std::string::npos) << wt;
  const Json packed = Json::parse(R"([{"id": "h/1/2", "rank": 1, "host": "h", "device": "cuda:0",
    "state": "busy", "trial": "s-000001", "step": 7, "tokens_per_s": 900,
    "trials": [{"trial_id": "s-000001"}, {"trial_id": "s-000002"}, {"trial_id": "s-000004"}],
    "last_heartbeat_s": 0.1, "connected_s": 5}])");
  const std::string pt = WorkersTable(packed).RenderText();
  EXPECT_NE(pt.find("s-000001 +2 packed"), std::string::npos) << pt;
  const Json queued =
      Json::parse(R"([{"trial_id": "t", "sweep_id": "s", "priority": 0, "attempt": 2,
    "waiting_s": 65, "eligible_in_s": 0}])");
  const std::string qt = QueuedTable(queued).RenderText();
  EXPECT_NE(qt.find("1:05          now\n"), std::string::npos) << qt;
}

TEST(ViewsTest, LiveLinesShowRunningTrialsAndTotals) {
  const Json reply = Json::parse(R"({"sweep": {"id": "s", "state": "active"}, "trials": [
    {"id": "s-000000", "state": "completed", "step": 10, "steps": 10},
    {"id": "s-000001", "state": "running", "step": 5, "steps": 10, "params": {"lora.r": 4}},
    {"id": "s-000002", "state": "queued", "step": 0, "steps": 10}]})");
  const auto lines = LiveLines(reply, {{"s-000001", 2.5}}, 0);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "  -000001 running [##########..........] 5/10 loss 2.5  lora.r=4");
  EXPECT_EQ(lines[1], "1/3 completed, 0 failed, 1 running, 1 queued (sweep active)");
  EXPECT_LE(DisplayWidth(LiveLines(reply, {}, 20)[0]), 20u);
}

TEST(ViewsTest, TransitionAndEventLines) {
  const Json trial = Json::parse(R"({"id": "s-000001", "state": "failed", "attempt": 2,
    "worker": "h/0/1", "last_error": "out of memory", "updated_ms": 0})");
  EXPECT_EQ(TransitionLine(trial, "running"),
            "- trial s-000001 running -> failed (attempt 2): out of memory");
  const Json event = Json::parse(R"({"seq": 1, "time_ms": 0, "actor": "scheduler",
    "kind": "trial.transition", "sweep_id": "s", "trial_id": "s-000001", "detail": "queued -> assigned"})");
  EXPECT_EQ(EventLine(event), "- scheduler trial.transition s-000001 queued -> assigned");
}

}  // namespace
}  // namespace lf::cli
