// GPU gangs through the factory, run with `mpirun -np 2` (ctest: worker.nccl_gangs, labels gpu and
// mpi): CreateCollective picks NCCL for CUDA tensors and forms the gang over MPI, broadcasting
// rank 0's NCCL unique id; CPU tensors keep going over MPI. Every rank runs every test and checks
// what it sees. With one GPU each rank forms a gang of itself (both on the GPU); with two or more,
// a 2-rank gang sums across the GPUs, and a member that misses a collective is abandoned by the
// other, whose NCCL kernel really waits for it: ncclCommAbort, Unavailable, refused from then on,
// and a new gang forms after. Tests that need two GPUs skip, saying so, where fewer are visible.
#include <gtest/gtest.h>
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "worker/collective/collective.h"

namespace lf::worker {
namespace {

int WorldRank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int Gpus() {
  return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
}

// This rank's GPU: rank modulo the GPUs visible.
torch::Device MyGpu() {
  return torch::Device(torch::kCUDA, static_cast<int8_t>(WorldRank() % Gpus()));
}

#define LF_SKIP_WITHOUT_GPUS(n)                                                        \
  if (Gpus() < (n))                                                                    \
  GTEST_SKIP() << "needs " << (n) << " CUDA device(s) visible to LibTorch, " << Gpus() \
               << " visible: not run"

TEST(NcclGangGpuTest, AGpuGangOfOneUsesNcclThroughTheFactory) {
  LF_SKIP_WITHOUT_GPUS(1);
  auto gang = CreateCollective({.world_ranks = {WorldRank()}, .tag = 100 + WorldRank()}, MyGpu());
  ASSERT_TRUE(gang.ok()) << gang.status().ToString();
  EXPECT_EQ((*gang)->backend(), "nccl");
  EXPECT_EQ((*gang)->size(), 1);
  torch::Tensor t = torch::full({5}, 2.5, MyGpu());
  ASSERT_TRUE((*gang)->AllReduceSum(t).ok());
  EXPECT_EQ(t.sum().item<float>(), 12.5f);
  torch::Tensor tokens = torch::tensor({int64_t{7}}, torch::kInt64);  // a CPU tensor: over MPI
  ASSERT_TRUE((*gang)->AllReduceSum(tokens).ok());
  EXPECT_EQ(tokens.item<int64_t>(), 7);
  // CPU tensors of the same ranks still go over MPI.
  auto cpu =
      CreateCollective({.world_ranks = {WorldRank()}, .tag = 110 + WorldRank()}, torch::kCPU);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_EQ((*cpu)->backend(), "mpi");
}

TEST(NcclGangGpuTest, ATwoGpuGangSumsBroadcastsAndReducesGradients) {
  LF_SKIP_WITHOUT_GPUS(2);
  auto gang = CreateCollective({.world_ranks = {0, 1}, .tag = 120}, MyGpu());
  ASSERT_TRUE(gang.ok()) << gang.status().ToString();
  EXPECT_EQ((*gang)->backend(), "nccl");
  EXPECT_EQ((*gang)->rank(), WorldRank());
  torch::Tensor t = torch::full({1000}, static_cast<double>(WorldRank() + 1),
                                torch::TensorOptions(torch::kFloat32).device(MyGpu()));
  ASSERT_TRUE((*gang)->AllReduceSum(t).ok());
  EXPECT_TRUE(torch::equal(t.cpu(), torch::full({1000}, 3.0f)));
  torch::Tensor b = torch::full({3}, static_cast<int64_t>(WorldRank() * 10),
                                torch::TensorOptions(torch::kInt64).device(MyGpu()));
  ASSERT_TRUE((*gang)->Broadcast(b, 1).ok());
  EXPECT_EQ(b[0].item<int64_t>(), 10);
  // CPU tensors (the trainer's stop flags, token counts, loss) go over the gang's MPI
  // communicator, exactly as on a CPU gang.
  torch::Tensor flags = torch::tensor({int64_t{WorldRank()}, int64_t{1}}, torch::kInt64);
  ASSERT_TRUE((*gang)->AllReduceSum(flags).ok());
  EXPECT_EQ(flags[0].item<int64_t>(), 1);
  EXPECT_EQ(flags[1].item<int64_t>(), 2);
  torch::Tensor loss = torch::tensor({0.25 * (WorldRank() + 1)}, torch::kFloat64);
  ASSERT_TRUE((*gang)->Broadcast(loss, 1).ok());
  EXPECT_EQ(loss.item<double>(), 0.5);
  torch::Tensor p = torch::zeros({7}, torch::TensorOptions().device(MyGpu()).requires_grad(true));
  (p.sum() * (WorldRank() + 1)).backward();
  ASSERT_TRUE(AllReduceGradients(**gang, {p}).ok());
  EXPECT_TRUE(torch::equal(p.grad().cpu(), torch::full({7}, 3.0f)));
}

TEST(NcclGangGpuTest, AMemberThatMissesACollectiveIsAbandonedAndANewGangForms) {
  LF_SKIP_WITHOUT_GPUS(2);
  std::atomic<bool> give_up{false};  // set as the worker does once the coordinator stops the trial
  GangSpec spec{.world_ranks = {0, 1}, .tag = 130};
  spec.abandon = [&give_up] { return give_up.load(); };
  auto gang = CreateCollective(spec, MyGpu());
  ASSERT_TRUE(gang.ok()) << gang.status().ToString();
  torch::Tensor t = torch::ones({1 << 20}, MyGpu());
  ASSERT_TRUE((*gang)->AllReduceSum(t).ok());
  std::thread stop([&give_up] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    give_up.store(true);
  });
  if (WorldRank() == 1) {
    // Misses the collective for 1.5 s (a dead member, forever), then comes too late: rank 0 has
    // aborted, and this rank gives up on it in turn.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  }
  Status st = (*gang)->AllReduceSum(t);
  stop.join();
  EXPECT_FALSE(st.ok());
  if (WorldRank() == 0) {
    EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
    EXPECT_NE(st.message().find("abandoned"), std::string::npos) << st.ToString();
    EXPECT_NE(st.message().find("aborted"), std::string::npos) << st.ToString();
  }
  Status again = (*gang)->AllReduceSum(t);
  EXPECT_EQ(again.code(), StatusCode::kUnavailable);
  EXPECT_NE(again.message().find("formed again"), std::string::npos) << again.ToString();
  gang->reset();
  MPI_Barrier(MPI_COMM_WORLD);
  auto next = CreateCollective({.world_ranks = {0, 1}, .tag = 131}, MyGpu());
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  torch::Tensor v = torch::full({4}, 5.0, MyGpu());
  ASSERT_TRUE((*next)->AllReduceSum(v).ok());
  EXPECT_EQ(v[0].item<float>(), 10.0f);
}

}  // namespace
}  // namespace lf::worker

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
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
