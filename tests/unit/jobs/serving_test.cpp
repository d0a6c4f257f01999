#include "jobs/serving.h"

#include <gtest/gtest.h>

#include "common/yaml.h"

namespace lf::jobs {
namespace {

JobSpec Job(const std::string& method_block) {
  Result<Json> doc = ParseYaml("base_model: m\ndata: {train: t.jsonl}\n" + method_block, "job");
  EXPECT_TRUE(doc.ok()) << doc.status().ToString();
  Result<JobSpec> job = ParseJobSpec(*doc);
  EXPECT_TRUE(job.ok()) << job.status().ToString();
  return *job;
}

TEST(ServingTest, SmallLoraOnDecoderLayersIsServedAsItIs) {
  EXPECT_TRUE(ServingWarnings(AdapterShapeOfJob(Job("lora: {r: 16}\n"))).empty());
  EXPECT_TRUE(ServingWarnings(AdapterShapeOfJob(Job("method: full\nfull: {}\n"))).empty());
  EXPECT_TRUE(ServingWarnings(AdapterShapeOfJob(Job("method: qlora\nqlora: {r: 8}\n"))).empty());
}

TEST(ServingTest, RankAboveTheDefaultNamesTheFlagValueToStartWith) {
  auto w = ServingWarnings(AdapterShapeOfJob(Job("lora: {r: 40}\n")));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("rank 40"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("--max-lora-rank 64"), std::string::npos) << w[0];
  w = ServingWarnings(AdapterShapeOfJob(Job("lora: {r: 1024}\n")));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("largest --max-lora-rank vLLM accepts (512)"), std::string::npos) << w[0];
}

TEST(ServingTest, DoraHeadAndEmbeddingTargetsAndOtherMethodsAreWarnedAbout) {
  auto w = ServingWarnings(AdapterShapeOfJob(
      Job("method: dora\ndora: {r: 8, target_modules: [q_proj, lm_head, embed_tokens]}\n")));
  ASSERT_EQ(w.size(), 3u);
  EXPECT_NE(w[0].find("DoRA"), std::string::npos);
  EXPECT_NE(w[1].find("\"lm_head\""), std::string::npos);
  EXPECT_NE(w[2].find("\"embed_tokens\""), std::string::npos);
  w = ServingWarnings(AdapterShapeOfJob(Job("method: ia3\nia3: {}\n")));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("IA3 adapter"), std::string::npos) << w[0];
}

TEST(ServingTest, ReadsWhatPeftWritesInAdapterConfig) {
  Json config = {{"peft_type", "LORA"},
                 {"r", 128},
                 {"use_dora", false},
                 {"bias", "none"},
                 {"target_modules", "model\\.layers\\.\\d+\\.self_attn\\.(q|v)_proj"},
                 {"modules_to_save", {"lm_head"}}};
  Result<AdapterShape> shape = AdapterShapeOfPeftConfig(config, "a/adapter_config.json");
  ASSERT_TRUE(shape.ok()) << shape.status().ToString();
  EXPECT_EQ(shape->target_modules.size(), 1u);
  auto w = ServingWarnings(*shape);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("--max-lora-rank 128"), std::string::npos);
  EXPECT_NE(w[1].find("modules_to_save"), std::string::npos);

  Result<AdapterShape> bad = AdapterShapeOfPeftConfig(Json{{"r", 8}}, "a/adapter_config.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("a/adapter_config.json.peft_type"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace lf::jobs
