#include "coordinator/metrics/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace lf::coordinator::metrics {
namespace {

TEST(HistogramTest, CountsEachObservationInTheFirstBucketWhoseUpperBoundHoldsIt) {
  Histogram h({1, 0.1, 10});  // sorted on construction
  for (double v : {0.05, 0.1, 0.2, 1.0, 5.0, 50.0}) h.Observe(v);
  EXPECT_EQ(h.bounds(), (std::vector<double>{0.1, 1, 10}));
  // <= 0.1: 0.05 and 0.1; (0.1, 1]: 0.2 and 1.0; (1, 10]: 5; above: 50.
  EXPECT_EQ(h.bucket_counts(), (std::vector<uint64_t>{2, 2, 1, 1}));
  EXPECT_DOUBLE_EQ(h.sum(), 56.35);
}

TEST(ExpositionTest, WritesFamiliesInTheOrderAddedWithHelpTypeAndEscapedLabels) {
  Exposition e;
  e.AddCounter("jobs_total", "Jobs seen.", {{{}, 3}});
  e.AddGauge("workers", "Workers by state.",
             {{{{"state", "idle"}, {"host", "a\"b\\c\nd"}}, 0.5}, {{{"state", "busy"}}, 2}});
  e.AddGauge("nothing", "A family without samples is left off.", {});
  Histogram h({0.5, 2});
  h.Observe(1);
  h.Observe(0.25);
  e.AddHistogram("latency_seconds", "Latency.", h);
  // Labels by name, samples by labels; a histogram's buckets are cumulative and end with +Inf.
  EXPECT_EQ(e.Text(),
            "# HELP jobs_total Jobs seen.\n"
            "# TYPE jobs_total counter\n"
            "jobs_total 3\n"
            "# HELP workers Workers by state.\n"
            "# TYPE workers gauge\n"
            "workers{host=\"a\\\"b\\\\c\\nd\",state=\"idle\"} 0.5\n"
            "workers{state=\"busy\"} 2\n"
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_count 2\n"
            "latency_seconds_sum 1.25\n"
            "latency_seconds_bucket{le=\"0.5\"} 1\n"
            "latency_seconds_bucket{le=\"2\"} 2\n"
            "latency_seconds_bucket{le=\"+Inf\"} 2\n");
}

TEST(ExpositionTest, FormatsSpecialAndLargeValues) {
  Exposition e;
  e.AddGauge("v", "Values.",
             {{{{"k", "a"}}, std::numeric_limits<double>::infinity()},
              {{{"k", "b"}}, -std::numeric_limits<double>::infinity()},
              {{{"k", "c"}}, 123456789012.0},
              {{{"k", "d"}}, 0.001},
              {{{"k", "e"}}, 1e20},
              {{{"k", "f"}}, 0.1 + 0.2},  // no 0.30000000000000004 on the page
              {{{"k", "g"}}, std::nan("")}});
  const std::string text = e.Text();
  for (const char* line : {"v{k=\"a\"} +Inf\n", "v{k=\"b\"} -Inf\n", "v{k=\"c\"} 123456789012\n",
                           "v{k=\"d\"} 0.001\n", "v{k=\"e\"} 1e+20\n", "v{k=\"f\"} 0.3\n",
                           // Prometheus reads NaN in any case.
                           "v{k=\"g\"} Nan\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "in:\n" << text;
  }
}

TEST(ExpositionDeathTest, NamesPrometheusWouldRefuseAreBugs) {
  EXPECT_DEATH(Exposition().AddGauge("bad name", "Help.", {{{}, 1}}), "bad name");
  EXPECT_DEATH(Exposition().AddGauge("g", "Help.", {{{{"bad-label", "x"}}, 1}}), "metric family g");
  EXPECT_DEATH(Exposition().AddGauge("g", "Two\nlines.", {{{}, 1}}), "help text");
  EXPECT_DEATH(
      {
        Exposition e;
        e.AddGauge("g", "Help.", {{{}, 1}});
        e.AddCounter("g", "Help.", {{{}, 1}});
      },
      "metric family g");
  EXPECT_DEATH(Exposition().AddGauge("g", "Help.", {{{{"k", "v"}}, 1}, {{{"k", "v"}}, 2}}),
               "two samples");
  EXPECT_DEATH(Exposition().AddCounter("c_total", "Help.", {{{}, -1}}), "below 0");
}

}  // namespace
}  // namespace lf::coordinator::metrics
