#include "worker/data/shuffle.h"

#include <cstddef>
#include <utility>

namespace lf::worker {
namespace {

constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t SplitMix64::Next() {
  state_ += kGoldenGamma;
  return Mix64(state_);
}

uint64_t SplitMix64::Below(uint64_t n) {
  // 2^64 mod n values at the bottom would be drawn once more often than the rest; skip them.
  const uint64_t threshold = (0 - n) % n;
  while (true) {
    uint64_t r = Next();
    if (r >= threshold) return r % n;
  }
}

std::vector<int64_t> ShuffledIndices(int64_t n, uint64_t seed) {
  std::vector<int64_t> indices(static_cast<size_t>(n > 0 ? n : 0));
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<int64_t>(i);
  SplitMix64 rng(seed);
  for (size_t i = indices.size(); i > 1; --i) {
    std::swap(indices[i - 1], indices[rng.Below(i)]);
  }
  return indices;
}

uint64_t EpochSeed(uint64_t seed, int64_t epoch) {
  return Mix64(seed + kGoldenGamma * (static_cast<uint64_t>(epoch) + 1));
}

}  // namespace lf::worker
