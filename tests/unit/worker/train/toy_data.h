// A learnable toy language for training tests: repeating arithmetic sequences over the tiny test
// models' 50-token vocabulary (testing::TinyGpt2), each ending in token 49 as its EOS.
#pragma once

#include <vector>

#include "worker/data/example.h"
#include "worker/data/shuffle.h"

namespace lf::worker::testing {

// `partly_unlabelled`: the first 0-3 tokens of each example carry no loss, so batches differ in
// how many tokens they score (what token-weighted losses must get right).
inline std::vector<Example> ToyExamples(int n, uint64_t seed, bool partly_unlabelled = false) {
  std::vector<Example> out;
  SplitMix64 rng(seed);
  for (int i = 0; i < n; ++i) {
    Example e;
    const int32_t start = static_cast<int32_t>(rng.Below(40));
    const int32_t step = 1 + static_cast<int32_t>(rng.Below(3));
    const int unlabelled = partly_unlabelled ? static_cast<int>(rng.Below(4)) : 0;
    for (int k = 0; k < 12; ++k) {
      e.ids.push_back((start + k * step) % 49);
      e.loss.push_back(k >= unlabelled ? 1 : 0);
    }
    e.ids.push_back(49);
    e.loss.push_back(1);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace lf::worker::testing
