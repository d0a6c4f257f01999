// Who attaches an adapter: the factories return it unattached, and a ScopedHook declared after it
// attaches it until the guard ends, so a model never points at an adapter that is gone (the
// generate loop swapped adapters on one base and left the model on a destroyed one).
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "peft/peft_test_util.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::PerturbAdapter;
using testing::SampleIds;
using testing::TempDir;

// A small job of every method the factory makes.
std::vector<jobs::JobSpec> EveryMethod() {
  std::vector<jobs::JobSpec> jobs;
  for (jobs::Method method : jobs::AllMethods()) {
    if (method == jobs::Method::kFull) continue;  // no adapter: the base itself trains
    jobs::JobSpec job;
    job.method = method;
    job.base_model = "tiny-test-model";
    job.prompt_tuning.num_virtual_tokens = 3;
    job.p_tuning.num_virtual_tokens = 3;
    job.prefix_tuning.num_virtual_tokens = 3;
    job.bottleneck.size = 8;
    job.compacter.size = 8;
    jobs.push_back(job);
  }
  return jobs;
}

TEST(AdapterHookTest, FactoriesReturnTheAdapterWithoutAttachingIt) {
  torch::Tensor ids = SampleIds(2, 6, 50);
  for (const jobs::JobSpec& job : EveryMethod()) {
    auto model = NewModel(testing::TinyGpt2());
    auto adapter = CreateAdapter(*model, job, 0);
    ASSERT_TRUE(adapter.ok()) << jobs::MethodName(job.method) << ": " << adapter.status().ToString();
    EXPECT_EQ(model->hook(), nullptr) << jobs::MethodName(job.method);
    {
      ScopedHook attached(*model, adapter->get());
      EXPECT_EQ(model->hook(), adapter->get()) << jobs::MethodName(job.method);
    }
    EXPECT_EQ(model->hook(), nullptr) << jobs::MethodName(job.method);
  }
  // Loading a saved adapter does not attach it either.
  auto model = NewModel(testing::TinyGpt2());
  auto lora = CreateAdapter(*model, EveryMethod().front(), 0);
  ASSERT_TRUE(lora.ok());
  const std::string dir = TempDir("adapter_hook_load");
  ASSERT_TRUE(SaveAdapter(**lora, dir, "tiny-base").ok());
  auto fresh = NewModel(testing::TinyGpt2());
  torch::Tensor base = fresh->Forward(ids);
  auto loaded = LoadAdapter(*fresh, dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(fresh->hook(), nullptr);
  EXPECT_TRUE(torch::equal(fresh->Forward(ids), base));
}

// Generate's loop: one base, an adapter per run, each destroyed at the end of its run. After
// each run, and after the loop, the model computes what it did before (no destroyed adapter is
// reached) and its hook is the one from before the loop.
TEST(AdapterHookTest, AnAdapterSwappedOutOfALoopLeavesTheModelAsItWas) {
  for (const ModelConfig& config : {testing::TinyGpt2(), testing::TinyLlama()}) {
    auto model = NewModel(config);
    torch::Tensor ids = SampleIds(2, 6, 50);
    const torch::Tensor base = model->Forward(ids);
    ModelHook outer;  // changes nothing: whatever the caller had attached
    ScopedHook outer_attached(*model, &outer);
    for (const jobs::JobSpec& job : EveryMethod()) {
      // QLoRA replaces the base weights and BitFit trains them in place: neither leaves a base
      // to come back to.
      if (job.method == jobs::Method::kQlora || job.method == jobs::Method::kBitfit) continue;
      {
        std::unique_ptr<Adapter> adapter;
        auto created = CreateAdapter(*model, job, 1);
        ASSERT_TRUE(created.ok()) << jobs::MethodName(job.method) << ": " << created.status().ToString();
        adapter = std::move(created).value();
        PerturbAdapter(*adapter, 2, 0.5);
        ScopedHook attached(*model, adapter.get());
        EXPECT_FALSE(torch::equal(model->Forward(ids), base)) << jobs::MethodName(job.method) << " did nothing";
      }  // the guard ends first, then the adapter
      EXPECT_EQ(model->hook(), &outer) << jobs::MethodName(job.method) << " on " << config.model_type;
      EXPECT_TRUE(torch::equal(model->Forward(ids), base))
          << jobs::MethodName(job.method) << " on " << config.model_type;
    }
  }
}

}  // namespace
}  // namespace lf::worker
