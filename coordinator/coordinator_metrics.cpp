// GET /metrics: what operators scrape. Every scrape builds a fresh page (metrics::Exposition,
// over prometheus-cpp) from the event loop's state: gauges read the live state, counters and
// histograms the totals kept since this coordinator started, so they only grow.
#include <map>

#include "common/version.h"
#include "coordinator/coordinator.h"

namespace lf::coordinator {

using metrics::Exposition;

std::string Coordinator::PrometheusMetrics() const {
  Exposition w;
  const auto count = [](uint64_t n) { return std::vector<Exposition::Sample>{{{}, double(n)}}; };
  w.AddGauge("lorafleet_build_info", "The coordinator's version (the value is always 1).",
             {{{{"version", kVersion}}, 1}});
  w.AddGauge("lorafleet_uptime_seconds", "Seconds since this coordinator started.",
             {{{}, static_cast<double>(clock_.NowMillis() - started_ms_) / 1000.0}});

  std::array<int64_t, 7> trials{};
  std::map<std::string, int64_t> sweeps;
  for (const auto& [id, s] : sweeps_) {
    for (size_t i = 0; i < trials.size(); ++i) trials[i] += s.counts[i];
    ++sweeps[std::string(jobs::SweepStateName(s.record.state))];
  }
  std::vector<Exposition::Sample> by_state;
  for (size_t i = 0; i < trials.size(); ++i) {
    by_state.push_back(
        {{{"state", std::string(jobs::TrialStateName(static_cast<jobs::TrialState>(i)))}},
         static_cast<double>(trials[i])});
  }
  w.AddGauge("lorafleet_trials", "Trials in the store by state.", by_state);
  std::vector<Exposition::Sample> sweep_samples;
  for (const auto& [state, n] : sweeps) sweep_samples.push_back({{{"state", state}}, double(n)});
  w.AddGauge("lorafleet_sweeps", "Sweeps in the store by state.", sweep_samples);
  w.AddGauge("lorafleet_queue_length", "Trials waiting for a worker (back-offs included).",
             count(scheduler_.queued_count()));

  uint64_t busy = 0;
  uint64_t packed = 0;
  std::vector<Exposition::Sample> tokens;
  for (const auto& [id, worker] : scheduler_.workers()) {
    busy += worker.trials.empty() ? 0 : 1;
    packed += worker.trials.size() > 1 ? worker.trials.size() : 0;
    tokens.push_back(
        {{{"worker", id}, {"host", worker.host}, {"rank", std::to_string(worker.rank)}},
         worker.trials.empty() ? 0.0 : worker.tokens_per_s});
  }
  w.AddGauge("lorafleet_workers", "Connected worker ranks by state.",
             {{{{"state", "busy"}}, double(busy)},
              {{{"state", "idle"}}, double(scheduler_.workers().size() - busy)}});
  w.AddGauge("lorafleet_worker_tokens_per_second",
             "Training throughput each worker last reported (0 while idle).", tokens);
  w.AddGauge("lorafleet_packed_trials",
             "Trials training in packs (several on one worker, one base model).", count(packed));

  w.AddCounter("lorafleet_dispatches_total", "Trial attempts handed to workers.",
               count(counters_.dispatches));
  w.AddCounter("lorafleet_trial_completions_total", "Trial attempts that completed.",
               count(counters_.completions));
  w.AddCounter("lorafleet_trial_failures_total",
               "Trial attempts that failed, by whether the trial was retried.",
               {{{{"outcome", "retried"}}, double(counters_.retries)},
                {{{"outcome", "failed"}}, double(counters_.failed_for_good)}});
  w.AddCounter("lorafleet_retries_total", "Failed trials put back in the queue for a retry.",
               count(counters_.retries));
  w.AddCounter("lorafleet_workers_lost_total", "Workers declared lost (no heartbeat).",
               count(counters_.lost_workers));
  w.AddCounter("lorafleet_early_stops_total", "Trials early stopping (ASHA) told to finish early.",
               count(counters_.early_stops));
  w.AddHistogram("lorafleet_dispatch_latency_seconds",
                 "From a trial being ready (queued, or its retry back-off over) to its assignment.",
                 dispatch_latency_s_);
  w.AddHistogram("lorafleet_step_time_seconds",
                 "Wall time per optimizer step, from the workers' loss reports.", step_time_s_);

  w.AddGauge("lorafleet_store_size_bytes",
             "The experiment store's files on disk (SST, blob and WAL files).",
             {{{}, static_cast<double>(store_.ApproximateBytes())}});
  const store::StoreHealth health = store_.Health();
  w.AddGauge("lorafleet_store_writable",
             "1 while the experiment store takes writes; 0 after an error it cannot write past "
             "(a full disk) until it resumes.",
             {{{}, health.writable ? 1.0 : 0.0}});
  w.AddGauge("lorafleet_store_quarantined_records",
             "Records moved to the store's quarantine because they did not decode.",
             count(health.quarantined));
  return w.Text();
}

}  // namespace lf::coordinator
