#include "coordinator/metrics/prometheus.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace lf::coordinator::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::Observe(double value) {
  // Bucket i holds values in (bounds[i-1], bounds[i]]; the last one everything above.
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[i];
  sum_ += value;
  ++count_;
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(counts_.size());
  uint64_t running = 0;
  for (size_t i = 0; i < counts_.size(); ++i) out[i] = running += counts_[i];
  return out;
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[32];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", value);
  } else {
    std::snprintf(buf, sizeof(buf), "%.9g", value);
  }
  return buf;
}

void TextWriter::Header(const std::string& name, const std::string& help, const char* type) {
  out_ += "# HELP " + name + " " + help + "\n";
  out_ += "# TYPE " + name + " " + type + "\n";
}

void TextWriter::Line(const std::string& name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += "{";
    for (size_t i = 0; i < labels.size(); ++i) {
      out_ += (i ? "," : "") + labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
    }
    out_ += "}";
  }
  out_ += " " + FormatValue(value) + "\n";
}

void TextWriter::AddCounter(const std::string& name, const std::string& help,
                            const std::vector<Sample>& samples) {
  Header(name, help, "counter");
  for (const Sample& s : samples) Line(name, s.labels, s.value);
}

void TextWriter::AddGauge(const std::string& name, const std::string& help,
                          const std::vector<Sample>& samples) {
  Header(name, help, "gauge");
  for (const Sample& s : samples) Line(name, s.labels, s.value);
}

void TextWriter::AddHistogram(const std::string& name, const std::string& help,
                              const Histogram& h) {
  Header(name, help, "histogram");
  const std::vector<uint64_t> cumulative = h.CumulativeCounts();
  for (size_t i = 0; i < h.bounds().size(); ++i) {
    Line(name + "_bucket", {{"le", FormatValue(h.bounds()[i])}}, static_cast<double>(cumulative[i]));
  }
  Line(name + "_bucket", {{"le", "+Inf"}}, static_cast<double>(cumulative.back()));
  Line(name + "_sum", {}, h.sum());
  Line(name + "_count", {}, static_cast<double>(h.count()));
}

}  // namespace lf::coordinator::metrics
