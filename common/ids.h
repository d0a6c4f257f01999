// Identifiers for sweeps and trials. A sweep id is a ULID-style string: 26 characters of
// lowercase Crockford base32, the first 10 encoding the creation time in milliseconds, the rest
// random; ids from one generator are strictly increasing, so byte order is creation order and a
// RocksDB range scan lists sweeps oldest first. A trial id is "<sweep id>-<index, 6 digits>", so
// a sweep's trials sort together and in index order. IdGenerator is thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace lf {

inline constexpr size_t kSweepIdLength = 26;
inline constexpr uint32_t kMaxTrialsPerSweep = 999'999;

class IdGenerator {
 public:
  explicit IdGenerator(const Clock& clock = SystemClock());
  // Seeded generators give the same ids for the same clock readings (tests).
  IdGenerator(const Clock& clock, uint64_t seed);

  std::string NextSweepId();

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::mt19937_64 rng_;
  int64_t last_millis_ = -1;
  uint64_t random_hi_ = 0;  // top 16 of the 80 random bits
  uint64_t random_lo_ = 0;  // low 64 bits
};

// A process-wide generator on the system clock.
std::string NewSweepId();

std::string MakeTrialId(std::string_view sweep_id, uint32_t index);

struct TrialIdParts {
  std::string sweep_id;
  uint32_t index = 0;
};
// Errors name the id and what is wrong with it.
Status ValidateSweepId(std::string_view id);
Result<TrialIdParts> ParseTrialId(std::string_view id);
// The creation time encoded in a sweep id (or a trial id's sweep part).
Result<int64_t> IdTimestampMillis(std::string_view id);

}  // namespace lf
