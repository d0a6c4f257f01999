// store_bench: how fast the experiment store takes metric points and trial transitions, against
// raw RocksDB writes of the same keys, values and batch sizes in the same run (the ratio is the
// store's own overhead: validation, encoding, compare-and-set, audit events).
//
//   store_bench [--points N] [--batch B] [--transitions N] [--dir DIR]
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/flags.h"
#include "common/ids.h"
#include "coordinator/store/experiment_store.h"
#include "coordinator/store/store_codec.h"

namespace {

using Clock = std::chrono::steady_clock;
using lf::jobs::TrialState;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Options {
  int64_t points = 2'000'000;
  int batch = 256;
  int transitions = 2'000;
  std::string dir = "/tmp/lf_store_bench";
};

void Die(const std::string& what) {
  std::fprintf(stderr, "store_bench: %s\n", what.c_str());
  std::exit(1);
}

// A raw RocksDB with one column family, to compare against.
struct RawDb {
  rocksdb::DB* db = nullptr;
  explicit RawDb(const std::string& path) {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.write_buffer_size = 64 << 20;  // as the store's metrics family
    if (!rocksdb::DB::Open(o, path, &db).ok()) Die("cannot open raw RocksDB at " + path);
  }
  ~RawDb() { delete db; }
};


}  // namespace

int main(int argc, char** argv) {
  Options opt;
  auto app = lf::flags::MakeApp(
      "store_bench",
      "Metric points and trial transitions per second through the experiment store, against raw "
      "RocksDB writes of the same keys, values and batches.");
  app->add_option("--points", opt.points, "metric points written")->check(lf::flags::IntAtLeast(1));
  app->add_option("--batch", opt.batch, "points per write batch")->check(lf::flags::IntAtLeast(1));
  app->add_option("--transitions", opt.transitions, "trial transitions")
      ->check(lf::flags::IntAtLeast(1));
  app->add_option("--dir", opt.dir, "scratch folder (emptied first)")->type_name("DIR");
  if (std::optional<int> rc = lf::flags::Parse(*app, argc, argv)) return *rc;
  std::filesystem::remove_all(opt.dir);
  std::filesystem::create_directories(opt.dir);

  auto opened = lf::store::OpenRocksDbStore({.path = opt.dir + "/store"});
  if (!opened.ok()) Die(opened.status().ToString());
  lf::store::ExperimentStore& store = **opened;
  RawDb raw(opt.dir + "/raw");

  // One sweep whose trials receive the metrics and the transitions.
  const uint32_t kTrials = static_cast<uint32_t>(opt.transitions);
  lf::IdGenerator ids;
  lf::store::SweepRecord sweep;
  sweep.id = ids.NextSweepId();
  sweep.name = "bench";
  sweep.trial_count = kTrials;
  std::vector<lf::store::TrialRecord> trials;
  for (uint32_t i = 0; i < kTrials; ++i) {
    lf::store::TrialRecord t;
    t.id = lf::MakeTrialId(sweep.id, i);
    t.sweep_id = sweep.id;
    t.index = i;
    t.config = R"({"method":"lora","lora":{"r":16,"alpha":32},"train":{"lr":0.0003,"steps":1000}})";
    trials.push_back(std::move(t));
  }
  if (auto st = store.CreateSweep(sweep, trials, "bench"); !st.ok()) Die(st.ToString());

  // --- metric points: PROGRESS-sized batches, 4 metrics per step, spread over 16 trials -----
  const char* kNames[] = {"loss", "lr", "grad_norm", "tokens_per_s"};
  std::vector<lf::store::MetricPoint> batch;
  auto t0 = Clock::now();
  int64_t written = 0;
  for (int64_t step = 0; written < opt.points; ++step) {
    const std::string& trial = trials[step % 16].id;
    batch.clear();
    for (int k = 0; k < opt.batch; ++k) {
      batch.push_back({step * opt.batch / 4 + k / 4, kNames[k % 4], 1.0 / (k + 1), 1'700'000'000'000});
    }
    if (auto st = store.AppendMetrics(trial, batch); !st.ok()) Die(st.ToString());
    written += opt.batch;
  }
  const double store_metric_s = Seconds(t0);

  // Raw RocksDB: the same rows (one per trial and step, same bytes), as plain puts.
  t0 = Clock::now();
  written = 0;
  rocksdb::WriteOptions no_sync;
  std::string row;
  for (int64_t step = 0; written < opt.points; ++step) {
    const std::string& trial = trials[step % 16].id;
    rocksdb::WriteBatch wb;
    for (int k = 0; k < opt.batch; ++k) {
      lf::store::codec::AppendMetricEntry(&row, kNames[k % 4], 1.0 / (k + 1), 1'700'000'000'000);
      if (k % 4 == 3) {
        wb.Put(lf::store::codec::MetricRowKey(trial, step * opt.batch / 4 + k / 4), row);
        row.clear();
      }
    }
    if (!raw.db->Write(no_sync, &wb).ok()) Die("raw write failed");
    written += opt.batch;
  }
  const double raw_metric_s = Seconds(t0);

  // Raw RocksDB, one put per point (key = trial, step, name): the layout the rows replace.
  t0 = Clock::now();
  written = 0;
  for (int64_t step = 0; written < opt.points; ++step) {
    const std::string& trial = trials[step % 16].id;
    rocksdb::WriteBatch wb;
    for (int k = 0; k < opt.batch; ++k) {
      double v = 1.0 / (k + 1);
      int64_t ts = 1'700'000'000'000;
      char value[16];
      std::memcpy(value, &v, 8);
      std::memcpy(value + 8, &ts, 8);
      std::string key = lf::store::codec::MetricRowKey(trial, step * opt.batch / 4 + k / 4);
      key += kNames[k % 4];
      wb.Put("p" + key, rocksdb::Slice(value, 16));
    }
    if (!raw.db->Write(no_sync, &wb).ok()) Die("raw write failed");
    written += opt.batch;
  }
  const double raw_point_s = Seconds(t0);

  // --- transitions: each one durable on its own (fsync), then batched --------------------
  const int single = std::min(opt.transitions, 500);
  t0 = Clock::now();
  for (int i = 0; i < single; ++i) {
    lf::store::TransitionRequest r{.trial_id = trials[i].id, .from = TrialState::kQueued,
                                   .to = TrialState::kAssigned, .actor = "scheduler",
                                   .worker = "host/0"};
    auto done = store.TransitionTrial(r);
    if (!done.ok()) Die(done.status().ToString());
  }
  const double store_single_s = Seconds(t0);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  const std::string record(330, 'x');  // about the size of an encoded trial record
  t0 = Clock::now();
  for (int i = 0; i < single; ++i) {
    rocksdb::WriteBatch wb;
    wb.Put(trials[i].id, record);
    wb.Put("g" + std::to_string(i), std::string(200, 'e'));  // its audit event
    if (!raw.db->Write(sync, &wb).ok()) Die("raw write failed");
  }
  const double raw_single_s = Seconds(t0);

  // Batches of transitions, as a dispatcher commits them: queued -> assigned for the rest.
  t0 = Clock::now();
  int batched = 0;
  for (int start = single; start < opt.transitions; start += opt.batch) {
    std::vector<lf::store::TransitionRequest> requests;
    for (int i = start; i < std::min(opt.transitions, start + opt.batch); ++i) {
      requests.push_back({.trial_id = trials[i].id, .from = TrialState::kQueued,
                          .to = TrialState::kAssigned, .actor = "scheduler", .worker = "host/0"});
    }
    for (auto& r : store.TransitionTrials(requests)) {
      if (!r.ok()) Die(r.status().ToString());
      ++batched;
    }
  }
  const double store_batched_s = Seconds(t0);
  t0 = Clock::now();
  for (int start = single; start < opt.transitions; start += opt.batch) {
    rocksdb::WriteBatch wb;
    for (int i = start; i < std::min(opt.transitions, start + opt.batch); ++i) {
      std::string value;
      raw.db->Get(rocksdb::ReadOptions(), "t" + std::to_string(i), &value);  // the CAS read
      wb.Put(trials[i].id, record);
      wb.Put("g" + std::to_string(i), std::string(200, 'e'));
    }
    if (!raw.db->Write(sync, &wb).ok()) Die("raw write failed");
  }
  const double raw_batched_s = Seconds(t0);

  const double store_points = opt.points / store_metric_s;
  const double raw_points = opt.points / raw_metric_s;
  std::printf("store_bench: %lld metric points in batches of %d; %d single and %d batched "
              "transitions\n\n",
              static_cast<long long>(opt.points), opt.batch, single, batched);
  std::printf("%-34s %14s %14s %10s\n", "", "store", "raw RocksDB", "overhead");
  std::printf("%-34s %12.0f/s %12.0f/s %9.2fx\n", "metric points appended", store_points,
              raw_points, raw_points / store_points);
  std::printf("%-34s %14s %12.0f/s %10s\n", "  (raw, one key per point)", "",
              opt.points / raw_point_s, "");
  std::printf("%-34s %12.0f/s %12.0f/s %9.2fx\n", "transitions, one fsync each",
              single / store_single_s, single / raw_single_s, store_single_s / raw_single_s);
  std::printf("%-34s %12.0f/s %12.0f/s %9.2fx\n", "transitions, batched",
              batched / store_batched_s, batched / raw_batched_s, store_batched_s / raw_batched_s);
  std::printf("\naim: >= 500000 metric points/s with overhead < 1.5x -> %s\n",
              store_points >= 500'000 && raw_points / store_points < 1.5 ? "met" : "NOT met");
  std::filesystem::remove_all(opt.dir);
  return 0;
}
