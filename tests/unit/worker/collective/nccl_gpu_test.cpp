// The NCCL collective on a real GPU (ctest label gpu), in one process and without MPI, through
// JoinNcclCommunicator. What one GPU can show: a 1-rank communicator all-reduces and broadcasts
// and refuses bad tensors; a member that never joins is abandoned while the communicator forms (a
// 2-rank communicator whose rank 1 never comes); and a collective that does not finish is
// abandoned (a host function holds the default stream, standing in for a kernel that waits for a
// dead peer): ncclCommAbort, Unavailable, and every later call refused. What it cannot show, an
// NCCL kernel really waiting for a peer that died, needs two GPUs: nccl_gang_gpu_test.cpp.
// Skipped, saying so, where no CUDA device is visible to LibTorch.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "worker/collective/nccl_collective.h"

namespace lf::worker {
namespace {

#define LF_SKIP_WITHOUT_CUDA()      \
  if (!torch::cuda::is_available()) \
  GTEST_SKIP() << "no CUDA device visible to LibTorch: the NCCL communicator is not run"

using Clock = std::chrono::steady_clock;

// Ends the process, saying so, if a test hangs past `limit` (an abort that never returns would
// otherwise hold the GPU machine until ctest's timeout).
class HangGuard {
 public:
  explicit HangGuard(std::chrono::seconds limit, const char* what) {
    thread_ = std::thread([this, limit, what] {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
        std::fprintf(stderr, "HANG: %s did not return within %lld s\n", what,
                     static_cast<long long>(limit.count()));
        std::_Exit(3);
      }
    });
  }
  ~HangGuard() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

std::function<bool()> After(std::chrono::milliseconds ms) {
  const auto deadline = Clock::now() + ms;
  return [deadline] { return Clock::now() > deadline; };
}

std::unique_ptr<Collective> Alone() {
  auto id = NewNcclUniqueId();
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  if (!id.ok()) return nullptr;
  auto comm = JoinNcclCommunicator(*id, 0, 1, 0, nullptr);
  EXPECT_TRUE(comm.ok()) << comm.status().ToString();
  return comm.ok() ? std::move(comm).value() : nullptr;
}

TEST(NcclGpuTest, AOneRankCommunicatorReducesBroadcastsAndRefusesBadTensors) {
  LF_SKIP_WITHOUT_CUDA();
  HangGuard guard(std::chrono::seconds(120), "a 1-rank NCCL communicator");
  std::unique_ptr<Collective> comm = Alone();
  ASSERT_NE(comm, nullptr);
  EXPECT_EQ(comm->backend(), "nccl");
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  const torch::Device cuda(torch::kCUDA, 0);
  for (torch::Dtype dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat16, torch::kInt64}) {
    SCOPED_TRACE(c10::toString(dtype));
    torch::Tensor t = torch::arange(1000).to(dtype).to(cuda);
    const torch::Tensor want = t.clone();
    ASSERT_TRUE(comm->AllReduceSum(t).ok());
    EXPECT_TRUE(torch::equal(t.cpu(), want.cpu()));
    ASSERT_TRUE(comm->Broadcast(t, 0).ok());
    EXPECT_TRUE(torch::equal(t.cpu(), want.cpu()));
  }
  torch::Tensor cpu = torch::ones({4});
  EXPECT_EQ(comm->AllReduceSum(cpu).code(), StatusCode::kInvalidArgument);
  torch::Tensor strided = torch::ones({4, 4}, cuda).t();
  EXPECT_EQ(comm->AllReduceSum(strided).code(), StatusCode::kInvalidArgument);
  torch::Tensor ints = torch::ones({4}, torch::TensorOptions(torch::kInt32).device(cuda));
  EXPECT_EQ(comm->AllReduceSum(ints).code(), StatusCode::kInvalidArgument);
  torch::Tensor ok = torch::ones({4}, cuda);
  EXPECT_EQ(comm->Broadcast(ok, 1).code(), StatusCode::kInvalidArgument);
  // Refusals leave the communicator usable.
  EXPECT_TRUE(comm->AllReduceSum(ok).ok());
  EXPECT_EQ(ok.sum().item<float>(), 4.0f);
}

TEST(NcclGpuTest, AMemberThatNeverJoinsIsAbandonedWhileTheCommunicatorForms) {
  LF_SKIP_WITHOUT_CUDA();
  HangGuard guard(std::chrono::seconds(120), "abandoning an NCCL init (ncclCommAbort)");
  auto id = NewNcclUniqueId();
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  const auto start = Clock::now();
  // Rank 1 of 2 never comes.
  auto comm = JoinNcclCommunicator(*id, 0, 2, 0, After(std::chrono::milliseconds(500)));
  const auto waited = Clock::now() - start;
  ASSERT_FALSE(comm.ok());
  EXPECT_EQ(comm.status().code(), StatusCode::kUnavailable) << comm.status().ToString();
  EXPECT_NE(comm.status().message().find("abandoned"), std::string::npos)
      << comm.status().ToString();
  EXPECT_GE(waited, std::chrono::milliseconds(500));
  // The device is still usable, and so is a new communicator.
  std::unique_ptr<Collective> next = Alone();
  ASSERT_NE(next, nullptr);
  torch::Tensor t = torch::ones({8}, torch::Device(torch::kCUDA, 0));
  EXPECT_TRUE(next->AllReduceSum(t).ok());
  EXPECT_EQ(t.sum().item<float>(), 8.0f);
}

// Holds the stream it is enqueued on until `release` is set (a host function may not call CUDA).
void CUDART_CB HoldStream(void* release) {
  auto* flag = static_cast<std::atomic<bool>*>(release);
  while (!flag->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(NcclGpuTest, ACollectiveThatDoesNotFinishIsAbandonedAbortedAndRefusedFromThenOn) {
  LF_SKIP_WITHOUT_CUDA();
  HangGuard guard(std::chrono::seconds(120), "abandoning a held NCCL collective");
  auto id = NewNcclUniqueId();
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  std::atomic<bool> give_up{false};
  auto comm = JoinNcclCommunicator(*id, 0, 1, 0, [&give_up] { return give_up.load(); });
  ASSERT_TRUE(comm.ok()) << comm.status().ToString();
  const torch::Device cuda(torch::kCUDA, 0);
  torch::Tensor t = torch::ones({1 << 16}, cuda);
  ASSERT_TRUE((*comm)->AllReduceSum(t).ok());

  // The default stream is held for 2 s; the gang gives up after 0.3 s. (ncclCommAbort may wait
  // for the stream, so the call can return only once it is released.)
  std::atomic<bool> release{false};
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  ASSERT_EQ(cudaLaunchHostFunc(/*stream=*/nullptr, HoldStream, &release), cudaSuccess);
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    give_up.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(1700));
    release.store(true);
  });
  const auto start = Clock::now();
  Status st = (*comm)->AllReduceSum(t);
  const auto waited = Clock::now() - start;
  release.store(true);
  releaser.join();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("abandoned"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("aborted"), std::string::npos) << st.ToString();
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  Status again = (*comm)->Broadcast(t, 0);
  EXPECT_EQ(again.code(), StatusCode::kUnavailable);
  EXPECT_NE(again.message().find("formed again"), std::string::npos) << again.ToString();
  comm->reset();  // an aborted communicator is not destroyed twice
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(torch::ones({3}, cuda).sum().item<float>(), 3.0f);
}

}  // namespace
}  // namespace lf::worker
