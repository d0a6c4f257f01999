// The samplers' random numbers: SplitMix64 and our own mapping of its outputs to numbers, fixed by
// this code (std::*_distribution differ between standard libraries), so a sweep's trials and
// suggestions are the same on every platform and run. Values; one generator per caller.
#pragma once

#include <cstdint>

namespace lf::jobs {

// SplitMix64 (Steele, Lea and Flood, 2014).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}

  static uint64_t Mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Next() { return Mix(state_ += kGamma); }
  double NextUnit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  // [0, n) without modulo bias: draws below 2^64 mod n are redrawn.
  uint64_t NextBelow(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;
    for (;;) {
      uint64_t r = Next();
      if (r >= threshold) return r % n;
    }
  }

  static constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;

 private:
  uint64_t state_;
};

// One stream per trial, so a trial's values depend only on the seed and its index; `salt` gives
// a sampler streams of its own.
inline SplitMix64 TrialRng(uint64_t seed, uint32_t index, uint64_t salt = 0) {
  return SplitMix64(SplitMix64::Mix(seed) ^
                    SplitMix64::Mix((uint64_t{index} + 1) * SplitMix64::kGamma) ^
                    (salt == 0 ? 0 : SplitMix64::Mix(salt)));
}

}  // namespace lf::jobs
