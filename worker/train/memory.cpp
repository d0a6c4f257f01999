#include "worker/train/memory.h"

#include <fstream>
#include <string>

namespace lf::worker {
namespace {

int64_t ReadStatusKb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  }
  return 0;
}

}  // namespace

void ResetPeakMemory() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";  // "5": reset the peak RSS to the current RSS (Linux >= 4.0)
}

int64_t PeakMemoryBytes() { return ReadStatusKb("VmHWM"); }
int64_t CurrentMemoryBytes() { return ReadStatusKb("VmRSS"); }

}  // namespace lf::worker
