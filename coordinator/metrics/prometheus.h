// Prometheus' text exposition format (version 0.0.4), written by hand: a histogram type that
// keeps cumulative buckets as Prometheus defines them, and a writer that emits families with
// their HELP and TYPE lines, labels escaped, so GET /metrics passes `promtool check metrics`.
// Values, no shared state; the coordinator's event loop owns its histograms.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lf::coordinator::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Observations counted in buckets with upper bounds `bounds` (ascending), plus +Inf, their sum
// and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i], cumulative; the last entry (+Inf) equals count().
  std::vector<uint64_t> CumulativeCounts() const;
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), bounds_.size() + 1
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Builds one exposition. Each family is written whole (HELP, TYPE, then its samples), so call
// each Add* once per metric name; samples of a family share it through `samples`.
class TextWriter {
 public:
  struct Sample {
    Labels labels;
    double value = 0;
  };
  void AddCounter(const std::string& name, const std::string& help,
                  const std::vector<Sample>& samples);
  void AddGauge(const std::string& name, const std::string& help,
                const std::vector<Sample>& samples);
  void AddHistogram(const std::string& name, const std::string& help, const Histogram& h);
  const std::string& text() const { return out_; }

 private:
  void Header(const std::string& name, const std::string& help, const char* type);
  void Line(const std::string& name, const Labels& labels, double value);
  std::string out_;
};

// "a\\b\"c\n" as a label value: backslash, double quote and newline escaped.
std::string EscapeLabelValue(const std::string& value);
// A sample value as Prometheus writes it: integers without a decimal point, +Inf, NaN.
std::string FormatValue(double value);

}  // namespace lf::coordinator::metrics
