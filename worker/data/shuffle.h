// Deterministic shuffling: the same seed gives the same order with every compiler, standard library
// and machine, which resuming and comparing runs across a cluster rely on. std::shuffle and the
// std:: distributions are implementation-defined, so they are not used. Values; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace lf::worker {

// Steele, Lea and Flood's SplitMix64 (the generator Java's SplittableRandom uses): 64 bits of
// state, passes BigCrush, and its reference outputs are published, so a test pins it down.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, n) for n >= 1, without modulo bias (rejects the short top range).
  uint64_t Below(uint64_t n);

 private:
  uint64_t state_;
};

// A permutation of 0..n-1 by Fisher-Yates (Durstenfeld) driven by SplitMix64(seed).
std::vector<int64_t> ShuffledIndices(int64_t n, uint64_t seed);

// The shuffle seed of `epoch` (0-based) in a run seeded with `seed`: output epoch+1 of
// SplitMix64(seed). Unlike seed + epoch, runs with seeds 1 and 2 do not share epochs.
uint64_t EpochSeed(uint64_t seed, int64_t epoch);

}  // namespace lf::worker
