// The NCCL implementation of Collective, for gangs whose tensors are on CUDA devices: the gang is
// formed over MPI, gang rank 0's NCCL unique id is broadcast over it, then every member joins one
// non-blocking NCCL communicator. CUDA tensors go over NCCL on the default stream, in order with
// LibTorch's work there, each call waiting for its result by polling the event behind it and
// NCCL's async error (gang_wait.h), so GangSpec::abandon or a failed peer ends the wait with
// ncclCommAbort; CPU tensors (the trainer's small control exchanges) go over the MPI communicator.
// Built only with LF_WITH_NCCL; use CreateCollective (collective.h) rather than this directly.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "worker/collective/collective.h"

namespace lf::worker {

Result<std::unique_ptr<Collective>> CreateNcclCollective(const GangSpec& gang,
                                                         const torch::Device& device);

// The parts CreateNcclCollective is made of, which tests use without MPI: a fresh unique id
// (128 bytes), and joining the communicator of `id` as `rank` of `size` on CUDA device `device`,
// with `control` for CPU tensors (null: they are refused).
Result<std::string> NewNcclUniqueId();
Result<std::unique_ptr<Collective>> JoinNcclCommunicator(
    const std::string& id, int rank, int size, int device, std::function<bool()> abandon,
    std::unique_ptr<Collective> control = nullptr);

}  // namespace lf::worker
