// MPI for gangs in a worker rank. A rank started as an MPI rank (OMPI_COMM_WORLD_SIZE, PMI_SIZE
// or PMIX_RANK in its environment: mpirun, or srun --mpi=pmix) initialises MPI when it starts,
// since MPI_Init waits for every rank of the launch and so cannot wait for the first gang, and
// finalises it when it exits. A rank started otherwise (by hand, or srun without an MPI plugin)
// leaves MPI alone, and a gang trial given to it fails saying so. Torch-free, so worker_main.cpp
// includes it alone.
#pragma once

namespace lf::worker {

class MpiRuntime {
 public:
  MpiRuntime();
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  bool active() const { return active_; }

 private:
  bool active_ = false;
};

}  // namespace lf::worker
