// Which device a rank trains on and how many CPU threads it uses; the agent's only torch calls.
// ChooseDevice runs once at start-up; ConfigureTrainingThread runs first on every training
// thread (the CUDA device and OpenMP settings are per thread).
#pragma once

#include <string_view>

#include "common/status.h"
#include "worker/agent/worker_identity.h"

namespace lf::worker {

// `requested`: "cpu" (always the CPU) or "auto" (the GPU local_rank % device_count when CUDA is
// available, else the CPU). Fills identity->device, memory_bytes and threads; the threads are the
// hardware threads shared evenly by the host's ranks (at least 1), so two ranks on two cores do
// not oversubscribe.
Status ChooseDevice(std::string_view requested, WorkerIdentity* identity);

// Applies identity.threads (torch::set_num_threads) and selects the CUDA device on the calling
// thread.
void ConfigureTrainingThread(const WorkerIdentity& identity);

}  // namespace lf::worker
