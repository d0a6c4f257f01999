// Which device a rank trains on and how many CPU threads it uses; the agent's only torch calls.
// ChooseDevice runs once at start-up; ConfigureTrainingThread runs first on every training
// thread (the CUDA device and OpenMP settings are per thread).
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "worker/agent/worker_identity.h"

namespace lf::worker {

// `requested`: "cpu" (always the CPU) or "auto" (the GPU local_rank % device_count when CUDA is
// available, else the CPU). Fills identity->device, memory_bytes and threads; the threads are
// CpuThreads of the hardware threads, the host's ranks and $OMP_NUM_THREADS.
Status ChooseDevice(std::string_view requested, WorkerIdentity* identity);

// The torch threads of one rank: `omp_num_threads` (the environment's OMP_NUM_THREADS) when it is
// a positive integer, else the hardware threads shared evenly by the ranks of this launch on the
// host (at least 1), so two ranks on two cores do not oversubscribe. A rank started by a launch of
// its own (one that replaces a dead rank) counts only itself, so it needs OMP_NUM_THREADS: more
// threads than free cores make OpenMP's waiting threads spin, 20 times slower on a busy host.
int32_t CpuThreads(int32_t hardware, int32_t ranks_here, const char* omp_num_threads);

// Applies identity.threads (torch::set_num_threads) and selects the CUDA device on the calling
// thread.
void ConfigureTrainingThread(const WorkerIdentity& identity);

}  // namespace lf::worker
