#include "worker/collective/gang_wait.h"

#include <chrono>
#include <thread>

namespace lf::worker {

Result<GangWaitEnd> WaitForGang(const std::function<Result<bool>()>& poll,
                                const std::function<bool()>& abandon, const GangWaitTiming& timing,
                                const Clock& clock,
                                const std::function<void(int64_t micros)>& sleep) {
  const int64_t spin_until = clock.SteadyMicros() + timing.spin_micros;
  for (;;) {
    LF_ASSIGN_OR_RETURN(bool done, poll());
    if (done) return GangWaitEnd::kDone;
    if (abandon && abandon()) return GangWaitEnd::kAbandoned;
    if (clock.SteadyMicros() < spin_until) continue;
    if (sleep) {
      sleep(timing.nap_micros);
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(timing.nap_micros));
    }
  }
}

}  // namespace lf::worker
