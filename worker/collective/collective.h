// The communicator of a gang: the ranks that train one trial together, data-parallel. Training
// all-reduces the trainable tensors' gradients (and each micro-batch's token count) through it, so
// every member takes the same optimizer step. One interface, two implementations, as in PyTorch's
// c10d: MPI (CPU tensors, every build) and NCCL (CUDA tensors, builds with NCCL); CreateCollective
// picks one (PickCollectiveBackend states the rule). Members make the same calls in the same order
// with tensors of the same shape and dtype. A Collective is used by one thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

#include "common/status.h"

namespace lf::worker {

struct GangSpec {
  // The members as MPI_COMM_WORLD ranks, ascending; this process is one of them. A member's rank
  // in the gang is its index here.
  std::vector<int> world_ranks;
  // Tells apart gangs whose communicators are created at the same time (MPI_Comm_create_group),
  // 0 to 32767.
  int tag = 0;
  // Polled while forming the gang or in a collective that waits for the others: true gives up on
  // it with Unavailable, and the communicator is broken from then on. Neither MPI nor NCCL learns
  // reliably that a member died (their collectives wait forever), so this is how a member is
  // abandoned: the worker sets it when the coordinator, which saw the member's heartbeats stop,
  // stops the trial (worker_api.h: gang_abandon_after_ms after the stop). NCCL then aborts its
  // communicator (ncclCommAbort), which ends its kernels waiting on the GPU. Null: wait as long
  // as it takes.
  std::function<bool()> abandon;
};

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;  // 0 .. size() - 1 within the gang
  virtual int size() const = 0;
  virtual std::string_view backend() const = 0;  // "mpi" or "nccl"
  // Sums `tensor` across the gang, in place. Contiguous float32, float64 or int64. Unavailable
  // when abandoned (GangSpec::abandon).
  virtual Status AllReduceSum(torch::Tensor& tensor) = 0;
  // Every member's `tensor` becomes the one of gang rank `root`.
  virtual Status Broadcast(torch::Tensor& tensor, int root) = 0;
};

enum class CollectiveBackend { kMpi, kNccl };

// The rule CreateCollective follows: CUDA tensors over NCCL when the build has it; CPU tensors,
// and CUDA tensors in a build without NCCL (staged through host memory), over MPI.
CollectiveBackend PickCollectiveBackend(const torch::Device& device, bool build_has_nccl);

// The gang's communicator for tensors on `device`, by PickCollectiveBackend. MPI must be
// initialised: the MPI path uses it throughout, the NCCL path to form the gang and broadcast
// NCCL's unique id from gang rank 0. Errors say which member, rank or setting is wrong.
Result<std::unique_ptr<Collective>> CreateCollective(const GangSpec& gang,
                                                     const torch::Device& device);

// Sums the gradients of `params` across the gang, in flat buckets of at most `bucket_bytes` (one
// all-reduce each; a LoRA adapter's fit in one). Tensors without a gradient are skipped, the same
// ones on every member, since members train the same model.
Status AllReduceGradients(Collective& collective, const std::vector<torch::Tensor>& params,
                          int64_t bucket_bytes = int64_t{32} << 20);

}  // namespace lf::worker
