// Who a worker rank is: its rank, world size and local rank as the launcher (mpirun, srun, or
// nobody) set them in the environment, its host and pid, and the device it trains on. Read once
// at start-up. The rank is its MPI_COMM_WORLD rank, by which gangs name their members.
// Values and pure functions (the environment is passed in): thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "jobs/protocol.h"

namespace lf::worker {

struct WorkerIdentity {
  std::string worker_id;  // "<host>/<rank>/<pid>"
  int32_t rank = 0;
  int32_t world_size = 1;
  int32_t local_rank = 0;
  int32_t local_size = 1;  // ranks on this host (1 when the launcher does not say)
  std::string host;
  int64_t pid = 0;
  std::string device = "cpu";  // "cpu", "cuda:0"
  int64_t memory_bytes = 0;    // this rank's share of RAM (CPU), or the GPU's memory
  int32_t threads = 1;         // intra-op threads for a CPU rank
};

// Returns the value of an environment variable, or null when unset (std::getenv in production).
using EnvLookup = std::function<const char*(const char*)>;

// Rank, world size and local rank from OMPI_COMM_WORLD_* (OpenMPI), else PMI_* (MPICH, Intel
// MPI), else SLURM_* (srun), else 0/1/0; host name and pid of this process. A variable that is
// set but not a number is an InvalidArgument naming it. Device fields are left at "cpu".
Result<WorkerIdentity> DetectIdentity(const EnvLookup& env, const std::string& host, int64_t pid);

// The host name (gethostname), "localhost" when it cannot be read.
std::string HostName();

// MemTotal from /proc/meminfo in bytes; 0 when it cannot be read.
int64_t TotalRamBytes();

// What the coordinator learns from a HELLO or HEARTBEAT (running and tokens_per_s left empty).
protocol::Hello HelloFor(const WorkerIdentity& identity);

}  // namespace lf::worker
