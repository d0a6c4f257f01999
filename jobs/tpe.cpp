#include "jobs/tpe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include "jobs/random.h"

namespace lf::jobs {
namespace {

using Kind = SearchAxis::Kind;
using Outcome = TpeObservation::Outcome;

constexpr double kSigma0 = 0.2;       // Optuna's SIGMA0_MAGNITUDE
constexpr double kPriorWeight = 1.0;  // Optuna's prior_weight
constexpr uint64_t kTpeSalt = 0x7E5A11;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// An axis in the sampler's coordinates: continuous on [low, high] (log space for loguniform,
// integers widened by half a step), or categorical over k choices (coordinates are indices).
struct Dim {
  const SearchAxis* axis = nullptr;
  bool categorical = false;
  bool is_int = false;
  bool is_log = false;
  double low = 0, high = 0;
  size_t k = 0;
  double range() const { return high - low; }
};

std::vector<Dim> Dims(const SweepSpec& spec) {
  std::vector<Dim> dims;
  for (const SearchAxis& axis : spec.space) {
    Dim d{.axis = &axis};
    switch (axis.kind) {
      case Kind::kGrid:
      case Kind::kChoice:
        d.categorical = true;
        d.k = axis.values.size();
        break;
      case Kind::kUniform:
        d.low = axis.low, d.high = axis.high;
        break;
      case Kind::kLogUniform:
        d.is_log = true;
        d.low = std::log(axis.low), d.high = std::log(axis.high);
        break;
      case Kind::kInt:
        d.is_int = true;
        d.low = axis.low - 0.5, d.high = axis.high + 0.5;
        break;
    }
    dims.push_back(d);
  }
  return dims;
}

// A trial's values in sampler coordinates; nullopt when one does not fit the space (a value
// outside a list or range, which a hand-edited store could hold).
std::optional<std::vector<double>> ToPoint(const std::vector<Dim>& dims, const Json& params) {
  std::vector<double> x;
  for (const Dim& d : dims) {
    if (!params.is_object() || !params.contains(d.axis->key)) return std::nullopt;
    const Json& v = params.at(d.axis->key);
    if (d.categorical) {
      auto it = std::find(d.axis->values.begin(), d.axis->values.end(), v);
      if (it == d.axis->values.end()) return std::nullopt;
      x.push_back(static_cast<double>(it - d.axis->values.begin()));
      continue;
    }
    if (!v.is_number()) return std::nullopt;
    double value = v.get<double>();
    if (d.is_log) {
      if (!(value > 0)) return std::nullopt;
      value = std::log(value);
    }
    if (!(value >= d.low && value <= d.high)) return std::nullopt;
    x.push_back(value);
  }
  return x;
}

Json FromCoordinate(const Dim& d, double x) {
  if (d.categorical) return d.axis->values[static_cast<size_t>(x)];
  if (d.is_int) return static_cast<int64_t>(x);
  if (d.is_log) return std::clamp(std::exp(x), d.axis->low, d.axis->high);
  return std::clamp(x, d.low, d.high);
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// A mixture of product kernels over some of the dims: one component per observation and a prior.
struct Mixture {
  std::vector<std::vector<double>> centers;  // per component: a coordinate per dim (prior: NaN)
  std::vector<double> log_weights;
  std::vector<std::vector<double>> sigmas;  // per component, per dim: its bandwidth (continuous)
};

std::vector<double> DefaultWeights(size_t n) {  // Optuna's default_weights
  std::vector<double> w(n, 1.0);
  if (n >= 25) {
    const size_t ramp = n - 25;
    for (size_t i = 0; i < ramp; ++i) {
      w[i] = ramp == 1 ? 1.0 / static_cast<double>(n)
                       : 1.0 / static_cast<double>(n) + (1.0 - 1.0 / static_cast<double>(n)) *
                                                            static_cast<double>(i) /
                                                            static_cast<double>(ramp - 1);
    }
  }
  return w;
}

// Bandwidths: multivariate, Optuna's 0.2 * n^(-1/(d+4)) * range for every kernel; one axis at a
// time, each kernel's larger distance to its neighbours (the range's ends count as neighbours).
// Both clipped to [range / min(100, n + 2), range] (Optuna's magic clip: n kernels and the prior).
std::vector<double> Bandwidths(const Dim& d, const std::vector<double>& mus, size_t dims_used,
                               bool multivariate) {
  const double n = static_cast<double>(mus.size()), range = d.range();
  std::vector<double> sigma(mus.size());
  if (multivariate) {
    const double shrink = std::pow(std::max(n, 1.0), -1.0 / (static_cast<double>(dims_used) + 4));
    std::fill(sigma.begin(), sigma.end(), kSigma0 * shrink * range);
  } else {
    std::vector<size_t> order(mus.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return mus[a] < mus[b]; });
    for (size_t i = 0; i < order.size(); ++i) {
      const double left = i == 0 ? d.low : mus[order[i - 1]];
      const double right = i + 1 == order.size() ? d.high : mus[order[i + 1]];
      sigma[order[i]] = std::max(mus[order[i]] - left, right - mus[order[i]]);
    }
  }
  const double min_sigma = range / std::min(100.0, n + 2);
  for (double& s : sigma) s = std::clamp(s, min_sigma, range);
  return sigma;
}

// `points` ordered by trial index (oldest first), so the newest weigh most.
Mixture BuildMixture(const std::vector<Dim>& dims, const std::vector<size_t>& used,
                     const std::vector<std::vector<double>>& points, bool multivariate) {
  Mixture m;
  std::vector<double> weights = DefaultWeights(points.size());
  weights.push_back(kPriorWeight);
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  for (double w : weights) m.log_weights.push_back(std::log(w / total));
  for (const auto& p : points) {
    std::vector<double> c;
    for (size_t d : used) c.push_back(p[d]);
    m.centers.push_back(std::move(c));
  }
  m.centers.emplace_back(used.size(), kNaN);
  m.sigmas.assign(m.centers.size(), std::vector<double>(used.size(), 0));
  for (size_t j = 0; j < used.size(); ++j) {
    const Dim& d = dims[used[j]];
    m.sigmas.back()[j] = d.range();  // the prior's
    if (d.categorical) continue;
    std::vector<double> mus;
    for (const auto& p : points) mus.push_back(p[used[j]]);
    const std::vector<double> sigma = Bandwidths(d, mus, used.size(), multivariate);
    for (size_t c = 0; c < points.size(); ++c) m.sigmas[c][j] = sigma[c];
  }
  return m;
}

// log of the component's density (mass, for integers and choices) at x, over the used dims.
double ComponentLogDensity(const std::vector<Dim>& dims, const std::vector<size_t>& used,
                           const Mixture& m, size_t c, const std::vector<double>& x) {
  double log_p = 0;
  for (size_t j = 0; j < used.size(); ++j) {
    const Dim& d = dims[used[j]];
    const double center = m.centers[c][j];
    const bool prior = std::isnan(center);
    if (d.categorical) {
      const double k = static_cast<double>(d.k);
      const double p =
          prior ? 1.0 / k
                : (kPriorWeight / k + (x[j] == center ? 1.0 : 0.0)) / (kPriorWeight + 1.0);
      log_p += std::log(p);
      continue;
    }
    const double mu = prior ? 0.5 * (d.low + d.high) : center;
    const double sigma = m.sigmas[c][j];
    const double z_low = (d.low - mu) / sigma, z_high = (d.high - mu) / sigma;
    const double norm = std::max(NormalCdf(z_high) - NormalCdf(z_low), 1e-300);
    double p;
    if (d.is_int) {
      p = NormalCdf((x[j] + 0.5 - mu) / sigma) - NormalCdf((x[j] - 0.5 - mu) / sigma);
    } else {
      const double z = (x[j] - mu) / sigma;
      p = std::exp(-0.5 * z * z) / (sigma * std::sqrt(2 * M_PI));
    }
    log_p += std::log(std::max(p / norm, 1e-300));
  }
  return log_p;
}

double MixtureLogDensity(const std::vector<Dim>& dims, const std::vector<size_t>& used,
                         const Mixture& m, const std::vector<double>& x) {
  double best = -std::numeric_limits<double>::infinity();
  std::vector<double> terms;
  for (size_t c = 0; c < m.centers.size(); ++c) {
    terms.push_back(m.log_weights[c] + ComponentLogDensity(dims, used, m, c, x));
    best = std::max(best, terms.back());
  }
  double sum = 0;
  for (double t : terms) sum += std::exp(t - best);
  return best + std::log(sum);
}

double StandardNormal(SplitMix64& rng) {  // Box-Muller
  const double u1 = 1.0 - rng.NextUnit(), u2 = rng.NextUnit();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

std::vector<double> SampleMixture(const std::vector<Dim>& dims, const std::vector<size_t>& used,
                                  const Mixture& m, SplitMix64& rng) {
  double u = rng.NextUnit(), acc = 0;
  size_t c = m.centers.size() - 1;
  for (size_t i = 0; i < m.centers.size(); ++i) {
    acc += std::exp(m.log_weights[i]);
    if (u < acc) {
      c = i;
      break;
    }
  }
  std::vector<double> x;
  for (size_t j = 0; j < used.size(); ++j) {
    const Dim& d = dims[used[j]];
    const double center = m.centers[c][j];
    const bool prior = std::isnan(center);
    if (d.categorical) {
      // The kernel puts 1 + prior/k on the observed choice and prior/k on each (over 1 + prior):
      // the observed choice with probability 1 / (1 + prior), else a uniform one.
      const double own = prior ? 0 : 1.0 / (kPriorWeight + 1.0);
      x.push_back(!prior && rng.NextUnit() < own ? center
                                                 : static_cast<double>(rng.NextBelow(d.k)));
      continue;
    }
    const double mu = prior ? 0.5 * (d.low + d.high) : center;
    const double sigma = m.sigmas[c][j];
    double v = std::clamp(mu, d.low, d.high);
    for (int tries = 0; tries < 100; ++tries) {  // truncation by rejection
      const double draw = mu + sigma * StandardNormal(rng);
      if (draw >= d.low && draw <= d.high) {
        v = draw;
        break;
      }
    }
    if (d.is_int) v = std::clamp(std::round(v), d.axis->low, d.axis->high);
    x.push_back(v);
  }
  return x;
}

// Lower is better for every value; NaN (no value) is worst.
double Oriented(double v, const Objective& o) {
  if (std::isnan(v)) return std::numeric_limits<double>::infinity();
  return o.mode == "max" ? -v : v;
}

bool Dominates(const std::vector<double>& a, const std::vector<double>& b) {
  bool better = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] > b[i]) return false;
    better = better || a[i] < b[i];
  }
  return better;
}

// Complete trials best first: by value, or by front and crowding distance (several objectives).
std::vector<const TpeObservation*> RankComplete(std::vector<const TpeObservation*> trials,
                                                const std::vector<Objective>& objectives) {
  std::vector<std::vector<double>> v;
  for (const auto* t : trials) {
    std::vector<double> o;
    for (size_t i = 0; i < objectives.size(); ++i) {
      o.push_back(Oriented(i < t->values.size() ? t->values[i] : kNaN, objectives[i]));
    }
    v.push_back(std::move(o));
  }
  std::vector<size_t> order(trials.size());
  std::iota(order.begin(), order.end(), 0);
  if (objectives.size() == 1) {
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return v[a][0] < v[b][0] || (v[a][0] == v[b][0] && trials[a]->index < trials[b]->index);
    });
  } else {
    std::vector<size_t> rest = order, ranked;
    while (!rest.empty()) {
      std::vector<size_t> front, next;
      for (size_t a : rest) {
        bool dominated =
            std::any_of(rest.begin(), rest.end(), [&](size_t b) { return Dominates(v[b], v[a]); });
        (dominated ? next : front).push_back(a);
      }
      // Crowding distance within the front: boundary points first, then the most isolated.
      std::vector<double> crowd(trials.size(), 0);
      for (size_t i = 0; i < objectives.size(); ++i) {
        std::sort(front.begin(), front.end(),
                  [&](size_t a, size_t b) { return v[a][i] < v[b][i]; });
        const double span = v[front.back()][i] - v[front.front()][i];
        crowd[front.front()] = crowd[front.back()] = std::numeric_limits<double>::infinity();
        for (size_t j = 1; j + 1 < front.size(); ++j) {
          if (span > 0 && std::isfinite(span)) {
            crowd[front[j]] += (v[front[j + 1]][i] - v[front[j - 1]][i]) / span;
          }
        }
      }
      std::stable_sort(front.begin(), front.end(), [&](size_t a, size_t b) {
        return crowd[a] > crowd[b] || (crowd[a] == crowd[b] && trials[a]->index < trials[b]->index);
      });
      ranked.insert(ranked.end(), front.begin(), front.end());
      rest = std::move(next);
    }
    order = std::move(ranked);
  }
  std::vector<const TpeObservation*> out;
  for (size_t i : order) out.push_back(trials[i]);
  return out;
}

// Picks the candidate with the best l/g ratio over `used` dims; returns its coordinates.
std::vector<double> Choose(const SweepSpec& spec, const std::vector<Dim>& dims,
                           const std::vector<size_t>& used,
                           const std::vector<std::vector<double>>& below,
                           const std::vector<std::vector<double>>& above, SplitMix64& rng) {
  const Mixture good = BuildMixture(dims, used, below, spec.tpe.multivariate);
  const Mixture bad = BuildMixture(dims, used, above, spec.tpe.multivariate);
  std::vector<double> best;
  double best_score = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < spec.tpe.n_ei_candidates; ++i) {
    std::vector<double> x = SampleMixture(dims, used, good, rng);
    const double score =
        MixtureLogDensity(dims, used, good, x) - MixtureLogDensity(dims, used, bad, x);
    if (best.empty() || score > best_score) {
      best = std::move(x);
      best_score = score;
    }
  }
  return best;
}

}  // namespace

int64_t TpeGamma(int64_t n) {
  return std::min<int64_t>((n + 9) / 10, 25);  // ceil(0.1 * n), at most 25
}

Json SuggestTpe(const SweepSpec& spec, const std::vector<Objective>& objectives,
                std::span<const TpeObservation> history, uint32_t index) {
  if (static_cast<int64_t>(index) < spec.tpe.n_startup_trials || spec.space.empty()) {
    return RandomParams(spec, index);
  }
  const std::vector<Dim> dims = Dims(spec);
  std::vector<const TpeObservation*> complete, pruned, running;
  for (const TpeObservation& t : history) {
    if (!ToPoint(dims, t.params)) continue;
    const bool has_values =
        t.values.size() == objectives.size() &&
        std::none_of(t.values.begin(), t.values.end(), [](double v) { return std::isnan(v); });
    if (t.outcome == Outcome::kComplete && has_values) {
      complete.push_back(&t);
    } else if (t.outcome == Outcome::kRunning) {
      if (spec.tpe.constant_liar) running.push_back(&t);
    } else {
      pruned.push_back(&t);  // stopped early, or finished without a value: after the complete
    }
  }
  if (complete.empty() && pruned.empty()) return RandomParams(spec, index);

  std::vector<const TpeObservation*> ranked = RankComplete(complete, objectives);
  std::stable_sort(pruned.begin(), pruned.end(), [&](const auto* a, const auto* b) {
    const double va = a->values.empty() ? kNaN : a->values[0];
    const double vb = b->values.empty() ? kNaN : b->values[0];
    const double oa = Oriented(va, objectives[0]), ob = Oriented(vb, objectives[0]);
    return a->step > b->step || (a->step == b->step && oa < ob) ||
           (a->step == b->step && oa == ob && a->index < b->index);
  });
  ranked.insert(ranked.end(), pruned.begin(), pruned.end());
  ranked.insert(ranked.end(), running.begin(), running.end());
  const auto n_below = static_cast<size_t>(TpeGamma(static_cast<int64_t>(ranked.size())));
  std::vector<const TpeObservation*> below(ranked.begin(), ranked.begin() + n_below);
  std::vector<const TpeObservation*> above(ranked.begin() + n_below, ranked.end());
  const auto by_index = [](const auto* a, const auto* b) { return a->index < b->index; };
  std::sort(below.begin(), below.end(), by_index);
  std::sort(above.begin(), above.end(), by_index);
  std::vector<std::vector<double>> below_points, above_points;
  for (const auto* t : below) below_points.push_back(*ToPoint(dims, t->params));
  for (const auto* t : above) above_points.push_back(*ToPoint(dims, t->params));

  SplitMix64 rng = TrialRng(spec.seed, index, kTpeSalt);
  std::vector<double> x(dims.size());
  if (spec.tpe.multivariate) {
    std::vector<size_t> all(dims.size());
    std::iota(all.begin(), all.end(), 0);
    x = Choose(spec, dims, all, below_points, above_points, rng);
  } else {
    for (size_t d = 0; d < dims.size(); ++d) {
      x[d] = Choose(spec, dims, {d}, below_points, above_points, rng)[0];
    }
  }
  Json params = Json::object();
  for (size_t d = 0; d < dims.size(); ++d)
    params[dims[d].axis->key] = FromCoordinate(dims[d], x[d]);
  return params;
}

}  // namespace lf::jobs
