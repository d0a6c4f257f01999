#include "worker/collective/mpi_runtime.h"

#include <mpi.h>

#include <cstdlib>

#include "common/logging.h"

namespace lf::worker {

MpiRuntime::MpiRuntime() {
  if (std::getenv("OMPI_COMM_WORLD_SIZE") == nullptr && std::getenv("PMI_SIZE") == nullptr &&
      std::getenv("PMIX_RANK") == nullptr) {
    return;
  }
  // The training thread makes every MPI call, one at a time, while the main thread makes none.
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
    LF_LOG_WARN("MPI did not initialise: trials on gangs of ranks will fail on this worker");
    return;
  }
  active_ = true;
  if (provided < MPI_THREAD_SERIALIZED) {
    LF_LOG_WARN("this MPI offers thread level {} below MPI_THREAD_SERIALIZED; gangs may misbehave",
                provided);
  }
}

MpiRuntime::~MpiRuntime() {
  if (active_) MPI_Finalize();
}

}  // namespace lf::worker
