#include "jobs/pbt.h"

#include <algorithm>
#include <cmath>

#include "jobs/random.h"

namespace lf::jobs {
namespace {

using Kind = SearchAxis::Kind;

Json Explore(const SearchAxis& axis, const Json& value, double resample_probability, uint64_t seed,
             uint32_t index, SplitMix64& rng) {
  const bool resample = rng.NextUnit() < resample_probability;
  const bool up = rng.NextUnit() < 0.5;
  if (resample) {
    // A fresh draw of this axis alone, from its own stream.
    SweepSpec one{.space = {axis}, .seed = seed ^ rng.Next()};
    return RandomParams(one, index).at(axis.key);
  }
  if (axis.kind == Kind::kGrid || axis.kind == Kind::kChoice) {
    auto it = std::find(axis.values.begin(), axis.values.end(), value);
    auto i = static_cast<int64_t>(it == axis.values.end() ? 0 : it - axis.values.begin());
    i = std::clamp<int64_t>(i + (up ? 1 : -1), 0, static_cast<int64_t>(axis.values.size()) - 1);
    return axis.values[static_cast<size_t>(i)];
  }
  if (!value.is_number()) return value;
  const double v = std::clamp(value.get<double>() * (up ? 1.2 : 0.8), axis.low, axis.high);
  if (axis.kind == Kind::kInt) return static_cast<int64_t>(std::llround(v));
  return v;
}

}  // namespace

bool PbtKeyIsMutable(std::string_view key) {
  if (key == "train.steps" || key == "train.seed" || key == "train.checkpoint_every" ||
      key == "train.eval_every") {
    return false;
  }
  return key.starts_with("train.") || key.ends_with(".dropout");
}

std::optional<PbtExploit> DecidePbt(const SweepSpec& spec, const Objective& objective,
                                    const std::vector<PbtMember>& population,
                                    const std::string& trial_id, uint64_t salt) {
  std::vector<const PbtMember*> ranked;  // best first
  for (const PbtMember& m : population) {
    if (!std::isnan(m.value)) ranked.push_back(&m);
  }
  if (ranked.size() < 2) return std::nullopt;
  const bool max = objective.mode == "max";
  std::stable_sort(ranked.begin(), ranked.end(), [&](const PbtMember* a, const PbtMember* b) {
    return (max ? a->value > b->value : a->value < b->value) ||
           (a->value == b->value && a->index < b->index);
  });
  const size_t n = ranked.size();
  size_t m = static_cast<size_t>(std::ceil(static_cast<double>(n) * spec.pbt.quantile_fraction));
  m = std::min(m, n / 2);
  if (m == 0) return std::nullopt;
  const bool bottom = std::any_of(ranked.end() - static_cast<std::ptrdiff_t>(m), ranked.end(),
                                  [&](const PbtMember* p) { return p->trial_id == trial_id; });
  if (!bottom) return std::nullopt;
  std::vector<const PbtMember*> sources;
  for (size_t i = 0; i < m; ++i) {
    if (ranked[i]->can_source && ranked[i]->trial_id != trial_id) sources.push_back(ranked[i]);
  }
  if (sources.empty()) return std::nullopt;
  SplitMix64 rng = TrialRng(spec.seed, 0, salt ^ 0x9B7);
  const PbtMember& source = *sources[rng.NextBelow(sources.size())];
  PbtExploit out{.source_id = source.trial_id, .params = source.params};
  for (const SearchAxis& axis : spec.space) {
    if (std::find(spec.pbt.mutable_keys.begin(), spec.pbt.mutable_keys.end(), axis.key) ==
        spec.pbt.mutable_keys.end()) {
      continue;
    }
    out.params[axis.key] =
        Explore(axis, source.params.value(axis.key, Json()), spec.pbt.resample_probability,
                spec.seed, static_cast<uint32_t>(salt), rng);
  }
  return out;
}

}  // namespace lf::jobs
