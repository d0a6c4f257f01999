// Gangs over MPI, run with `mpirun -np 4` (ctest: worker.gangs): two 2-rank gangs form at the
// same time and each reduces only among its members; a trial trained data-parallel on a 2-rank
// gang with batch b per rank reaches the losses and adapter (to 1e-5) of one rank with batch 2b.
// Every rank runs every test; each checks what its own rank sees.
#include <gtest/gtest.h>
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/file_util.h"
#include "model/test_models.h"
#include "train/toy_data.h"
#include "worker/collective/collective.h"
#include "worker/peft/adapter.h"
#include "worker/train/trainer.h"
#include "worker/worker_api.h"

namespace lf::worker {
namespace {

int WorldRank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int WorldSize() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

// Ranks {0, 1} and {2, 3}: this rank's gang.
GangSpec MyPair(int tag) {
  const int first = WorldRank() / 2 * 2;
  return {.world_ranks = {first, first + 1}, .tag = tag};
}

TEST(GangTest, TwoGangsFormAtOnceAndReduceAmongTheirMembersOnly) {
  ASSERT_EQ(WorldSize(), 4) << "run with mpirun -np 4";
  auto gang = CreateCollective(MyPair(1), torch::kCPU);
  ASSERT_TRUE(gang.ok()) << gang.status().ToString();
  EXPECT_EQ((*gang)->size(), 2);
  EXPECT_EQ((*gang)->rank(), WorldRank() % 2);
  EXPECT_EQ((*gang)->backend(), "mpi");
  torch::Tensor t = torch::full({3}, static_cast<double>(WorldRank() + 1), torch::kFloat64);
  ASSERT_TRUE((*gang)->AllReduceSum(t).ok());
  const double want = WorldRank() < 2 ? 1 + 2 : 3 + 4;
  EXPECT_TRUE(torch::equal(t, torch::full({3}, want, torch::kFloat64))) << t;
  torch::Tensor b = torch::full({2}, static_cast<int64_t>(WorldRank() * 10), torch::kInt64);
  ASSERT_TRUE((*gang)->Broadcast(b, 1).ok());
  EXPECT_EQ(b[0].item<int64_t>(), (WorldRank() / 2 * 2 + 1) * 10);
  // Buckets: gradients summed whatever the bucket size.
  torch::Tensor p1 = torch::zeros({5}, torch::requires_grad());
  torch::Tensor p2 = torch::zeros({2, 3}, torch::requires_grad());
  torch::Tensor no_grad = torch::zeros({4}, torch::requires_grad());
  (p1.sum() * (WorldRank() + 1) + (p2 * 2).sum()).backward();
  ASSERT_TRUE(AllReduceGradients(**gang, {p1, no_grad, p2}, /*bucket_bytes=*/16).ok());
  EXPECT_TRUE(torch::allclose(p1.grad(), torch::full({5}, want)));
  EXPECT_TRUE(torch::allclose(p2.grad(), torch::full({2, 3}, 4.0)));
  EXPECT_FALSE(no_grad.grad().defined());
}

TEST(GangTest, BadGangsAreRefusedSayingWhy) {
  auto not_member = CreateCollective({.world_ranks = {(WorldRank() + 1) % 4}, .tag = 2}, torch::kCPU);
  ASSERT_FALSE(not_member.ok());
  EXPECT_NE(not_member.status().message().find("is not a member"), std::string::npos);
  auto unsorted = CreateCollective({.world_ranks = {3, 1}, .tag = 3}, torch::kCPU);
  EXPECT_EQ(unsorted.status().code(), StatusCode::kInvalidArgument);
  auto too_big = CreateCollective({.world_ranks = {0, 9}, .tag = 4}, torch::kCPU);
  EXPECT_NE(too_big.status().message().find("below the world size 4"), std::string::npos);
}

// Gives up after `ms` milliseconds from now.
std::function<bool()> After(int ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  return [deadline] { return std::chrono::steady_clock::now() > deadline; };
}

TEST(GangTest, AMemberThatDoesNotComeIsAbandonedAndANewGangForms) {
  ASSERT_EQ(WorldSize(), 4);
  if (WorldRank() < 2) {
    // Rank 1 comes 1.5 s late: rank 0 gives up after 0.3 s; rank 1, late, finds nobody waiting.
    if (WorldRank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    GangSpec spec = MyPair(20);
    spec.abandon = After(300);
    auto gang = CreateCollective(spec, torch::kCPU);
    ASSERT_FALSE(gang.ok());
    EXPECT_EQ(gang.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(gang.status().message().find("not every member checked in"), std::string::npos)
        << gang.status().ToString();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  // Abandoned attempts leave nothing that disturbs the next gangs.
  auto gang = CreateCollective(MyPair(21), torch::kCPU);
  ASSERT_TRUE(gang.ok()) << gang.status().ToString();
  torch::Tensor t = torch::full({2}, static_cast<double>(WorldRank() + 1), torch::kFloat64);
  ASSERT_TRUE((*gang)->AllReduceSum(t).ok());
  EXPECT_EQ(t[0].item<double>(), WorldRank() < 2 ? 3.0 : 7.0);
}

TEST(GangTest, ACollectiveAMemberMissesIsAbandonedAndTheCommunicatorRefusesMore) {
  ASSERT_EQ(WorldSize(), 4);
  GangSpec spec = MyPair(30);
  const bool late = WorldRank() % 2 == 1;
  std::atomic<bool> give_up{false};  // set as the agent does when the coordinator stops the trial
  spec.abandon = [&give_up] { return give_up.load(); };
  auto gang = CreateCollective(spec, torch::kCPU);
  ASSERT_TRUE(gang.ok()) << gang.status().ToString();
  torch::Tensor t = torch::ones({4}, torch::kFloat32);
  ASSERT_TRUE((*gang)->AllReduceSum(t).ok());
  EXPECT_EQ(t[0].item<float>(), 2.0f);
  if (late) {
    // The odd members miss the next collective for 1 s (as a dead one would, forever).
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    torch::Tensor u = torch::ones({4}, torch::kFloat32);
    EXPECT_TRUE((*gang)->AllReduceSum(u).ok());  // completes with what the other left behind
  } else {
    std::thread stop([&give_up] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      give_up.store(true);
    });
    torch::Tensor u = torch::ones({4}, torch::kFloat32);
    Status st = (*gang)->AllReduceSum(u);
    stop.join();
    EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
    EXPECT_NE(st.message().find("abandoned"), std::string::npos) << st.ToString();
    Status again = (*gang)->Broadcast(u, 0);
    EXPECT_EQ(again.code(), StatusCode::kUnavailable);
    EXPECT_NE(again.message().find("formed again"), std::string::npos) << again.ToString();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  auto next = CreateCollective(MyPair(31), torch::kCPU);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  torch::Tensor v = torch::full({1}, 5.0, torch::kFloat64);
  ASSERT_TRUE((*next)->AllReduceSum(v).ok());
  EXPECT_EQ(v[0].item<double>(), 10.0);
}

struct Outcome {
  TrainResult result;
  std::map<std::string, torch::Tensor> adapter;
};

// Trains the gang's job; `gang` null: alone with rows `batch`, else this member's share.
Outcome Train(int64_t batch, Collective* gang, double lr) {
  auto model = testing::NewModel(testing::TinyGpt2(), 7);
  jobs::JobSpec job;
  job.lora = {.r = 4, .alpha = 8, .target_modules = {"c_attn", "c_fc"}};
  auto adapter = CreateAdapter(*model, job, 11);
  EXPECT_TRUE(adapter.ok());
  jobs::TrainSpec spec{.steps = 10, .batch_size = batch, .grad_accum = 2, .lr = lr,
                       .max_grad_norm = 0.5, .seed = 4, .log_every = 1000};
  auto loader = PackedLoader::Create(testing::ToyExamples(80, 5, /*partly_unlabelled=*/true),
                                     {.seq_len = 16, .batch_size = batch, .seed = spec.seed,
                                      .rank = gang ? gang->rank() : 0,
                                      .world = gang ? gang->size() : 1});
  EXPECT_TRUE(loader.ok()) << loader.status().ToString();
  Trainer trainer(*model, adapter->get(), spec, {.progress = false, .gang = gang});
  auto result = trainer.Run(*loader, {});
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return {*result, (*adapter)->StateDict()};
}

TEST(GangTest, ATwoRankGangTrainsAsOneRankWithBothBatches) {
  ASSERT_EQ(WorldSize(), 4);
  auto gang = CreateCollective(MyPair(5), torch::kCPU);
  ASSERT_TRUE(gang.ok()) << gang.status().ToString();
  const double lr = WorldRank() < 2 ? 1e-2 : 3e-3;  // the two gangs train different trials
  Outcome together = Train(/*batch=*/3, gang->get(), lr);
  Outcome alone = Train(/*batch=*/6, nullptr, lr);
  ASSERT_EQ(together.result.losses.size(), alone.result.losses.size());
  for (size_t s = 0; s < alone.result.losses.size(); ++s) {
    EXPECT_NEAR(together.result.losses[s], alone.result.losses[s], 1e-5) << "step " << s + 1;
  }
  EXPECT_LT(alone.result.losses.back(), alone.result.losses.front());  // it learned something
  for (const auto& [key, t] : alone.adapter) {
    EXPECT_LT((together.adapter.at(key) - t).abs().max().item<double>(), 1e-5) << key;
  }
  // The members count only their own rows' tokens.
  EXPECT_EQ(together.result.train_tokens * 2, alone.result.train_tokens);
}

// A job on the bundled model and data, trained by RunTrainJob on this rank's pair when `gang`.
jobs::JobSpec GangJob(const std::string& name, int64_t batch) {
  const std::string& root = testing::kRepoRoot;
  jobs::JobSpec job;
  job.base_model = root + "/examples/models/tiny-gpt2";
  job.data.train = root + "/examples/data/medical/train.jsonl";
  job.data.eval = root + "/examples/data/medical/eval.jsonl";
  job.data.seq_len = 32;
  job.lora = {.r = 4, .alpha = 8, .target_modules = {"c_attn", "c_fc"}};
  job.train = {.steps = 6, .batch_size = batch, .lr = 5e-3, .seed = 3, .log_every = 1000};
  job.output = (std::filesystem::path(::testing::TempDir()) / ("lf_gang_job_" + name)).string();
  return job;
}

TrainJobOptions GangOptions(int tag) {
  TrainJobOptions options{.progress = false, .resume = false};
  options.gang_world_ranks = MyPair(tag).world_ranks;
  options.gang_tag = tag;
  return options;
}

// The pair's folder, emptied by its rank 0 before either member uses it.
jobs::JobSpec SharedJob(const std::string& name, int64_t batch) {
  jobs::JobSpec job = GangJob(name + "_pair" + std::to_string(WorldRank() / 2), batch);
  if (WorldRank() % 2 == 0) std::filesystem::remove_all(job.output);
  MPI_Barrier(MPI_COMM_WORLD);
  return job;
}

std::map<std::string, torch::Tensor> SavedAdapter(const std::string& dir) {
  return testing::SavedTensors(dir + "/adapter_model.safetensors");
}

TEST(GangTest, AJobOnAGangTrainsAsOneRankWithTheWholeBatchAndRankZeroWritesTheOutputs) {
  ASSERT_EQ(WorldSize(), 4);
  const jobs::JobSpec job = SharedJob("outputs", /*batch=*/2);
  auto together = RunTrainJob(job, GangOptions(40));
  ASSERT_TRUE(together.ok()) << together.status().ToString();
  jobs::JobSpec one = GangJob("outputs_alone" + std::to_string(WorldRank()), /*batch=*/4);
  std::filesystem::remove_all(one.output);
  auto alone = RunTrainJob(one, {.progress = false, .resume = false});
  ASSERT_TRUE(alone.ok()) << alone.status().ToString();
  ASSERT_EQ(together->train.losses.size(), alone->train.losses.size());
  for (size_t s = 0; s < alone->train.losses.size(); ++s) {
    EXPECT_NEAR(together->train.losses[s], alone->train.losses[s], 1e-5) << "step " << s + 1;
  }
  ASSERT_TRUE(together->train.eval_loss && alone->train.eval_loss);
  EXPECT_NEAR(*together->train.eval_loss, *alone->train.eval_loss, 1e-5);
  EXPECT_EQ(together->train.devices, 2);
  MPI_Barrier(MPI_COMM_WORLD);
  if (WorldRank() % 2 == 1) {
    EXPECT_TRUE(together->train.adapter_dir.empty()) << "only gang rank 0 writes the adapter";
    return;
  }
  for (const auto& [key, t] : SavedAdapter(alone->train.adapter_dir)) {
    EXPECT_LT((SavedAdapter(together->train.adapter_dir).at(key) - t).abs().max().item<double>(), 1e-5)
        << key;
  }
  Json result = Json::parse(*ReadFileToString(job.output + "/result.json"));
  EXPECT_EQ(result["devices"], 2);
  std::ifstream metrics(job.output + "/metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  EXPECT_EQ(lines, 6) << "one metrics line per step, from rank 0 alone";
}

TEST(GangTest, AStopOnOneMemberStopsTheGangAtOneStepAndItResumesFromRankZerosCheckpoint) {
  ASSERT_EQ(WorldSize(), 4);
  const jobs::JobSpec job = SharedJob("stop", /*batch=*/2);
  TrainJobOptions options = GangOptions(50);
  int steps_seen = 0;
  options.on_step = [&](const StepMetrics&) { ++steps_seen; };
  options.stop_requested = [&] { return WorldRank() % 2 == 1 && steps_seen >= 3; };
  auto stopped = RunTrainJob(job, options);
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  EXPECT_EQ(stopped->train.stop_reason, jobs::StopReason::kStopped);
  EXPECT_EQ(stopped->train.steps, 3) << "both members stop at the step one of them was asked to";
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_TRUE(std::filesystem::exists(job.output + "/checkpoints/checkpoint-3"));

  TrainJobOptions again = GangOptions(51);
  again.resume = true;
  auto resumed = RunTrainJob(job, again);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->train.resumed_from_step, 3);
  const jobs::JobSpec straight = SharedJob("straight", /*batch=*/2);
  auto uninterrupted = RunTrainJob(straight, GangOptions(52));
  ASSERT_TRUE(uninterrupted.ok()) << uninterrupted.status().ToString();
  ASSERT_EQ(resumed->train.losses.size(), uninterrupted->train.losses.size());
  for (size_t s = 0; s < resumed->train.losses.size(); ++s) {
    EXPECT_NEAR(resumed->train.losses[s], uninterrupted->train.losses[s], 1e-5) << s + 1;
  }
}

}  // namespace
}  // namespace lf::worker

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  // Only rank 0 prints gtest's report; every rank's result decides the exit code.
  if (lf::worker::WorldRank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
