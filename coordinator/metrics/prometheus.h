// GET /metrics' page, Prometheus' text exposition format (0.0.4), built with prometheus-cpp's core
// library: the caller adds every family's values at scrape time to an Exposition, which fills a
// fresh prometheus::Registry and renders it with prometheus::TextSerializer. Histogram keeps
// observations between scrapes. No prometheus-cpp type appears here, so only prometheus.cpp
// includes its headers. Values, no shared state; the coordinator's event loop owns its histograms.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace prometheus {
class Registry;
}

namespace lf::coordinator::metrics {

// A sample's labels, by name (the page lists them in name order).
using Labels = std::map<std::string, std::string>;

// Observations counted in buckets with upper bounds `bounds` (inclusive, as Prometheus defines
// them), plus one above the last bound, and their sum.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);  // sorted here
  void Observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  // Per bucket, not cumulative: bucket i holds values in (bounds()[i-1], bounds()[i]]; the last
  // one (bounds().size()) everything above.
  const std::vector<uint64_t>& bucket_counts() const { return counts_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
};

// One scrape's page. Add each family once; a family with no samples is left off the page (as
// prometheus-cpp does). The page lists families in the order added and a family's samples
// sorted by their labels. Names, label names and help texts are the caller's constants, so one
// that Prometheus would refuse (or a family added twice, or a label set repeated) is a bug and
// aborts with LF_CHECK.
class Exposition {
 public:
  struct Sample {
    Labels labels;
    double value = 0;
  };
  Exposition();
  ~Exposition();
  Exposition(const Exposition&) = delete;
  Exposition& operator=(const Exposition&) = delete;

  // Counters are totals since this process started: values never below 0.
  void AddCounter(const std::string& name, const std::string& help,
                  const std::vector<Sample>& samples);
  void AddGauge(const std::string& name, const std::string& help,
                const std::vector<Sample>& samples);
  void AddHistogram(const std::string& name, const std::string& help, const Histogram& h);
  // The text exposition of everything added so far.
  std::string Text() const;

 private:
  std::unique_ptr<prometheus::Registry> registry_;
  std::vector<std::string> order_;  // family names, as added
};

}  // namespace lf::coordinator::metrics
