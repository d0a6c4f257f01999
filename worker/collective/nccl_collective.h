// The NCCL implementation of Collective, for gangs whose tensors are on CUDA devices: the gang is
// formed over MPI, gang rank 0's NCCL unique id is broadcast over it, then every member joins one
// non-blocking NCCL communicator. Collectives run on the default stream, in order with LibTorch's
// work there, and each call waits for its result, polling the event behind it and NCCL's async
// error (gang_wait.h), so GangSpec::abandon or a failed peer ends the wait with ncclCommAbort.
// Built only with LF_WITH_NCCL; use CreateCollective (collective.h) rather than this directly.
#pragma once

#include <functional>
#include <string>

#include "worker/collective/collective.h"

namespace lf::worker {

Result<std::unique_ptr<Collective>> CreateNcclCollective(const GangSpec& gang,
                                                         const torch::Device& device);

// The parts CreateNcclCollective is made of, for tests that need no MPI (several ranks as threads
// of one process, one device each): a fresh unique id (128 bytes), and joining the communicator
// of `id` as `rank` of `size` on CUDA device `device`.
Result<std::string> NewNcclUniqueId();
Result<std::unique_ptr<Collective>> JoinNcclCommunicator(const std::string& id, int rank, int size,
                                                         int device,
                                                         std::function<bool()> abandon);

}  // namespace lf::worker
