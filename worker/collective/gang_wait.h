// How a gang member waits for an operation every member must join: an MPI request
// (mpi_collective.cpp) or a CUDA event recorded after an NCCL kernel (nccl_collective.cpp). It
// polls until the operation completes or fails, or until GangSpec::abandon gives up on a member
// that never comes (the same rule for both backends); the caller then breaks its communicator
// (NCCL: ncclCommAbort). Free of torch, MPI and CUDA so its timing is unit-tested with a fake
// clock. Stateless; a call runs on the calling thread.
#pragma once

#include <cstdint>
#include <functional>

#include "common/clock.h"
#include "common/status.h"

namespace lf::worker {

struct GangWaitTiming {
  // Poll back to back this long: a step's collectives take at most this when every member is there.
  int64_t spin_micros = 2000;
  // Then sleep this long between polls, so a member waiting for a lost one costs little CPU.
  int64_t nap_micros = 200;
};

enum class GangWaitEnd { kDone, kAbandoned };

// `poll` says whether the operation has completed (true), or why it failed (an error, returned
// at once). `abandon` (null: wait as long as it takes) is asked after every poll that found the
// operation unfinished; true ends the wait with kAbandoned. `sleep` (null: the thread sleeps)
// and `clock` are what tests replace.
Result<GangWaitEnd> WaitForGang(const std::function<Result<bool>()>& poll,
                                const std::function<bool()>& abandon,
                                const GangWaitTiming& timing = {},
                                const Clock& clock = SystemClock(),
                                const std::function<void(int64_t micros)>& sleep = nullptr);

}  // namespace lf::worker
