// Time as lorafleet components see it: an injectable Clock so the scheduler, the store and the
// id generator can be tested with a FakeClock. SystemClock() is process-wide and thread-safe;
// FakeClock is thread-safe too (tests advance it from one thread while others read it).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace lf {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in milliseconds since the Unix epoch (what records and ids carry).
  virtual int64_t NowMillis() const = 0;
  // Monotonic time in microseconds, for durations and deadlines; never goes backwards.
  virtual int64_t SteadyMicros() const = 0;
};

// The real clock.
const Clock& SystemClock();

// "2026-11-24T04:58:36.129Z": how lorafleet shows a time to people.
std::string FormatUtcMillis(int64_t millis_since_epoch);
// "1:05:03", "4:07", "0:09"; "-" for a negative, unknown or absurd (> 3 years) duration.
std::string FormatDuration(double seconds);

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_millis = 1'700'000'000'000) : millis_(start_millis) {}
  int64_t NowMillis() const override { return millis_.load(); }
  int64_t SteadyMicros() const override { return (millis_.load() - start_) * 1000; }
  void AdvanceMillis(int64_t delta) { millis_.fetch_add(delta); }
  void SetMillis(int64_t millis) { millis_.store(millis); }

 private:
  std::atomic<int64_t> millis_;
  const int64_t start_ = millis_.load();
};

}  // namespace lf
