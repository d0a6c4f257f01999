// Peak memory of this process while a job trains: the resident-set high-water mark (VmHWM),
// reset at the start of a run through /proc/self/clear_refs so runs in one process are measured
// separately. CPU figures; GPU figures come from the CUDA allocator where it is built.
#pragma once

#include <cstdint>

namespace lf::worker {

// Resets the high-water mark to the current resident size (Linux; no-op elsewhere).
void ResetPeakMemory();
// Bytes; 0 when the platform does not say.
int64_t PeakMemoryBytes();
int64_t CurrentMemoryBytes();

}  // namespace lf::worker
