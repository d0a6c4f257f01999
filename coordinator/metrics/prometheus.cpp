#include "coordinator/metrics/prometheus.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace lf::coordinator::metrics {
namespace {

// prometheus-cpp throws std::invalid_argument for a metric or label name Prometheus would refuse
// and for a family registered twice. Our names are constants, so that is a bug: abort saying
// which family.
template <typename Fn>
void AddOrAbort(const std::string& name, const std::string& help, Fn&& add) {
  // prometheus-cpp 1.0.1 writes HELP as given, and a backslash or newline there breaks the page.
  LF_CHECK_MSG(help.find_first_of("\\\n") == std::string::npos,
               "the help text of metric family " + name + " has a backslash or newline");
  try {
    add();
  } catch (const std::exception& e) {
    LF_CHECK_MSG(false, "prometheus-cpp refused metric family " + name + ": " + e.what());
  }
}

// Family::Add returns the existing metric for labels it has seen, which would merge two samples
// into one line; two samples with one label set are a bug.
template <typename Metric, typename... Args>
Metric& AddSample(prometheus::Family<Metric>& family, const std::string& name, const Labels& labels,
                  Args&&... args) {
  LF_CHECK_MSG(!family.Has(labels),
               "metric family " + name + " has two samples with one label set");
  return family.Add(labels, std::forward<Args>(args)...);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::Observe(double value) {
  // The first bound >= value: upper bounds are inclusive, as in prometheus::Histogram.
  ++counts_[std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin()];
  sum_ += value;
}

Exposition::Exposition()
    : registry_(
          std::make_unique<prometheus::Registry>(prometheus::Registry::InsertBehavior::Throw)) {}

Exposition::~Exposition() = default;

void Exposition::AddCounter(const std::string& name, const std::string& help,
                            const std::vector<Sample>& samples) {
  for (const Sample& s : samples) {
    LF_CHECK_MSG(s.value >= 0, "counter " + name + " has a sample below 0 (or NaN)");
  }
  AddOrAbort(name, help, [&] {
    auto& family = prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
    for (const Sample& s : samples) AddSample(family, name, s.labels).Increment(s.value);
  });
  order_.push_back(name);
}

void Exposition::AddGauge(const std::string& name, const std::string& help,
                          const std::vector<Sample>& samples) {
  AddOrAbort(name, help, [&] {
    auto& family = prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
    for (const Sample& s : samples) AddSample(family, name, s.labels).Set(s.value);
  });
  order_.push_back(name);
}

void Exposition::AddHistogram(const std::string& name, const std::string& help,
                              const Histogram& h) {
  AddOrAbort(name, help, [&] {
    auto& family = prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
    const std::vector<double> increments(h.bucket_counts().begin(), h.bucket_counts().end());
    AddSample(family, name, {}, h.bounds()).ObserveMultiple(increments, h.sum());
  });
  order_.push_back(name);
}

std::string Exposition::Text() const {
  // The registry collects counters, then gauges, then histograms, and a family's samples in hash
  // order; put them back in the order the page's reader expects (see the header).
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  const auto rank = [this](const prometheus::MetricFamily& f) {
    return std::find(order_.begin(), order_.end(), f.name) - order_.begin();
  };
  std::stable_sort(families.begin(), families.end(),
                   [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  for (prometheus::MetricFamily& f : families) {
    std::sort(f.metric.begin(), f.metric.end(),
              [](const auto& a, const auto& b) { return a.label < b.label; });
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace lf::coordinator::metrics
