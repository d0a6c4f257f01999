#include "jobs/protocol.h"

#include <gtest/gtest.h>

namespace lf::protocol {
namespace {

Result<Message> RoundTrip(const Message& m) { return Decode(Encode(m)); }

jobs::JobSpec Job() {
  jobs::JobSpec job;
  job.base_model = "/models/base";
  job.data.train = "/data/train.jsonl";
  job.output = "/runs/s/t";
  return job;
}

TEST(ProtocolTest, StopCarriesFinishForEarlyStopping) {
  auto plain = RoundTrip(Stop{.trial_id = "s-000001", .attempt = 2, .reason = "cancelled"});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  const Stop& p = std::get<Stop>(*plain);
  EXPECT_EQ(p.trial_id, "s-000001");
  EXPECT_EQ(p.attempt, 2u);
  EXPECT_EQ(p.reason, "cancelled");
  EXPECT_FALSE(p.finish);

  auto finish = RoundTrip(Stop{.trial_id = "t", .attempt = 1, .reason = "asha", .finish = true});
  ASSERT_TRUE(finish.ok());
  EXPECT_TRUE(std::get<Stop>(*finish).finish);
  EXPECT_NE(Encode(Stop{.trial_id = "t", .finish = true})[0].find("\"finish\":true"),
            std::string::npos);
}

TEST(ProtocolTest, AStopFromAnOlderCoordinatorIsAPlainStop) {
  auto old = Decode({R"({"v": 1, "type": "STOP", "trial_id": "t", "attempt": 3, "reason": "x"})"});
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_FALSE(std::get<Stop>(*old).finish);
  auto bad = Decode({R"({"v": 1, "type": "STOP", "trial_id": "t", "attempt": 3, "finish": 1})"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("STOP.finish"), std::string::npos)
      << bad.status().message();
}

TEST(ProtocolTest, AssignCarriesItsPackKeyAndAnOlderOneTrainsAlone) {
  auto packed = RoundTrip(Assign{.trial_id = "t",
                                 .attempt = 1,
                                 .job = Job(),
                                 .pack_key = "lora|/models/base|128"});
  ASSERT_TRUE(packed.ok()) << packed.status().ToString();
  EXPECT_EQ(std::get<Assign>(*packed).pack_key, "lora|/models/base|128");
  auto alone = RoundTrip(Assign{.trial_id = "t", .attempt = 1, .job = Job()});
  ASSERT_TRUE(alone.ok());
  EXPECT_EQ(std::get<Assign>(*alone).pack_key, "");
  EXPECT_EQ(Encode(Assign{.trial_id = "t", .job = Job()})[0].find("pack_key"),
            std::string::npos);
  auto bad = Decode({R"({"v": 1, "type": "ASSIGN", "trial_id": "t", "attempt": 1, "job": {"base_model": "m", "data": {"train": "t"}},
                        "pack_key": 7})"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ASSIGN.pack_key"), std::string::npos)
      << bad.status().message();
}

TEST(ProtocolTest, AssignAndDoneCarryTypedValuesWhoseErrorsNameTheField) {
  jobs::JobSpec job = Job();
  job.method = jobs::Method::kDora;
  job.dora.r = 16;
  auto assign = RoundTrip(Assign{.trial_id = "t", .attempt = 1, .job = job});
  ASSERT_TRUE(assign.ok()) << assign.status().ToString();
  EXPECT_EQ(std::get<Assign>(*assign).job.method, jobs::Method::kDora);
  EXPECT_EQ(std::get<Assign>(*assign).job.dora.r, 16);
  EXPECT_EQ(std::get<Assign>(*assign).job.output, "/runs/s/t");
  auto bad_job = Decode({R"({"v": 1, "type": "ASSIGN", "trial_id": "t", "attempt": 1,
                            "job": {"base_model": "m", "data": {"train": "t"}, "lora": {"r": 0}}})"});
  ASSERT_FALSE(bad_job.ok());
  EXPECT_EQ(bad_job.status().field(), "ASSIGN.job.lora.r");
  auto bad_result = Decode({R"({"v": 1, "type": "DONE", "trial_id": "t", "attempt": 1,
                               "result": {"eval_loss": "low"}, "files": []})"});
  ASSERT_FALSE(bad_result.ok());
  EXPECT_EQ(bad_result.status().field(), "DONE.result.eval_loss");
}

TEST(ProtocolTest, HostileFramesAreErrorsNotExceptions) {
  for (const char* frame : {R"({"v": 1e999, "type": "HELLO"})",
                            R"({"v": 1, "type": "PROGRESS", "trial_id": "t", "attempt": 1,
                               "metrics": [[1, "loss", 1e400, 0]]})",
                            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
                            "\xff\xfe{}", ""}) {
    Result<Message> m = Decode({frame});
    EXPECT_FALSE(m.ok()) << frame;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << frame;
  }
}

TEST(ProtocolTest, AGangAssignNamesItsMembersRanksAndTag) {
  auto gang = RoundTrip(Assign{
      .trial_id = "t", .attempt = 2, .job = Job(), .gang_ranks = {1, 3}, .gang_tag = 7});
  ASSERT_TRUE(gang.ok()) << gang.status().ToString();
  EXPECT_EQ(std::get<Assign>(*gang).gang_ranks, (std::vector<int32_t>{1, 3}));
  EXPECT_EQ(std::get<Assign>(*gang).gang_tag, 7);
  EXPECT_EQ(Encode(Assign{.trial_id = "t", .job = Job()})[0].find("gang"),
            std::string::npos);
  auto unsorted = Decode({R"({"v": 1, "type": "ASSIGN", "trial_id": "t", "attempt": 1, "job": {"base_model": "m", "data": {"train": "t"}},
                             "gang_ranks": [3, 1], "gang_tag": 1})"});
  ASSERT_FALSE(unsorted.ok());
  EXPECT_NE(unsorted.status().message().find("ascending"), std::string::npos)
      << unsorted.status().message();
}

TEST(ProtocolTest, DoneCarriesItsFilesAsFramesAndOtherVersionsAreRefused) {
  Done done{
      .trial_id = "t",
      .attempt = 1,
      .result = {.stop_reason = jobs::StopReason::kEarlyStopped, .steps = 30, .eval_loss = 1.5},
      .files = {{"adapter_model.safetensors", std::string("\0\1", 2)}, {"result.json", "{}"}}};
  std::vector<std::string> frames = Encode(done);
  ASSERT_EQ(frames.size(), 3u);
  auto decoded = Decode(frames);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(std::get<Done>(*decoded).files[0].bytes, std::string("\0\1", 2));
  EXPECT_EQ(std::get<Done>(*decoded).result.stop_reason, jobs::StopReason::kEarlyStopped);
  EXPECT_EQ(std::get<Done>(*decoded).result.steps, 30);
  EXPECT_EQ(std::get<Done>(*decoded).result.eval_loss, 1.5);
  frames.pop_back();
  EXPECT_EQ(Decode(frames).status().code(), StatusCode::kInvalidArgument);
  auto other = Decode({R"({"v": 2, "type": "STOP", "trial_id": "t", "attempt": 1})"});
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace lf::protocol
