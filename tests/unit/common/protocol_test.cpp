#include "common/protocol.h"

#include <gtest/gtest.h>

namespace lf::protocol {
namespace {

Result<Message> RoundTrip(const Message& m) { return Decode(Encode(m)); }

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
                                 .job = {{"method", "lora"}},
                                 .pack_key = "lora|/models/base|128"});
  ASSERT_TRUE(packed.ok()) << packed.status().ToString();
  EXPECT_EQ(std::get<Assign>(*packed).pack_key, "lora|/models/base|128");
  auto alone = RoundTrip(Assign{.trial_id = "t", .attempt = 1, .job = Json::object()});
  ASSERT_TRUE(alone.ok());
  EXPECT_EQ(std::get<Assign>(*alone).pack_key, "");
  EXPECT_EQ(Encode(Assign{.trial_id = "t", .job = Json::object()})[0].find("pack_key"),
            std::string::npos);
  auto bad = Decode({R"({"v": 1, "type": "ASSIGN", "trial_id": "t", "attempt": 1, "job": {},
                        "pack_key": 7})"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ASSIGN.pack_key"), std::string::npos)
      << bad.status().message();
}

TEST(ProtocolTest, AGangAssignNamesItsMembersRanksAndTag) {
  auto gang = RoundTrip(Assign{
      .trial_id = "t", .attempt = 2, .job = Json::object(), .gang_ranks = {1, 3}, .gang_tag = 7});
  ASSERT_TRUE(gang.ok()) << gang.status().ToString();
  EXPECT_EQ(std::get<Assign>(*gang).gang_ranks, (std::vector<int32_t>{1, 3}));
  EXPECT_EQ(std::get<Assign>(*gang).gang_tag, 7);
  EXPECT_EQ(Encode(Assign{.trial_id = "t", .job = Json::object()})[0].find("gang"),
            std::string::npos);
  auto unsorted = Decode({R"({"v": 1, "type": "ASSIGN", "trial_id": "t", "attempt": 1, "job": {},
                             "gang_ranks": [3, 1], "gang_tag": 1})"});
  ASSERT_FALSE(unsorted.ok());
  EXPECT_NE(unsorted.status().message().find("ascending"), std::string::npos)
      << unsorted.status().message();
}

TEST(ProtocolTest, DoneCarriesItsFilesAsFramesAndOtherVersionsAreRefused) {
  Done done{
      .trial_id = "t",
      .attempt = 1,
      .result = {{"steps", 30}},
      .files = {{"adapter_model.safetensors", std::string("\0\1", 2)}, {"result.json", "{}"}}};
  std::vector<std::string> frames = Encode(done);
  ASSERT_EQ(frames.size(), 3u);
  auto decoded = Decode(frames);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(std::get<Done>(*decoded).files[0].bytes, std::string("\0\1", 2));
  frames.pop_back();
  EXPECT_EQ(Decode(frames).status().code(), StatusCode::kInvalidArgument);
  auto other = Decode({R"({"v": 2, "type": "STOP", "trial_id": "t", "attempt": 1})"});
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace lf::protocol
