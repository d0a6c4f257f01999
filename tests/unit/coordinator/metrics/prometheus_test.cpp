#include "coordinator/metrics/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace lf::coordinator::metrics {
namespace {

TEST(HistogramTest, BucketsAreCumulativeWithUpperBoundsInclusive) {
  Histogram h({1, 0.1, 10});  // sorted on construction
  for (double v : {0.05, 0.1, 0.2, 1.0, 5.0, 50.0}) h.Observe(v);
  EXPECT_EQ(h.bounds(), (std::vector<double>{0.1, 1, 10}));
  // <= 0.1: 0.05 and 0.1; <= 1: + 0.2 and 1.0; <= 10: + 5; +Inf: + 50.
  EXPECT_EQ(h.CumulativeCounts(), (std::vector<uint64_t>{2, 4, 5, 6}));
  EXPECT_EQ(h.count(), 6u);
  EXPECT_DOUBLE_EQ(h.sum(), 56.35);
}

TEST(TextWriterTest, WritesFamiliesAsTheExpositionFormatDefinesThem) {
  TextWriter w;
  w.AddCounter("jobs_total", "Jobs seen.", {{{}, 3}});
  w.AddGauge("workers", "Workers by state.",
             {{{{"state", "busy"}}, 2}, {{{"state", "idle"}, {"host", "a\"b\\c\nd"}}, 0.5}});
  Histogram h({0.5, 2});
  h.Observe(1);
  w.AddHistogram("latency_seconds", "Latency.", h);
  EXPECT_EQ(w.text(),
            "# HELP jobs_total Jobs seen.\n"
            "# TYPE jobs_total counter\n"
            "jobs_total 3\n"
            "# HELP workers Workers by state.\n"
            "# TYPE workers gauge\n"
            "workers{state=\"busy\"} 2\n"
            "workers{state=\"idle\",host=\"a\\\"b\\\\c\\nd\"} 0.5\n"
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{le=\"0.5\"} 0\n"
            "latency_seconds_bucket{le=\"2\"} 1\n"
            "latency_seconds_bucket{le=\"+Inf\"} 1\n"
            "latency_seconds_sum 1\n"
            "latency_seconds_count 1\n");
}

TEST(TextWriterTest, FormatsSpecialAndLargeValues) {
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(123456789012.0), "123456789012");
  EXPECT_EQ(FormatValue(0.001), "0.001");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
}

}  // namespace
}  // namespace lf::coordinator::metrics
