// Helpers for the experiment store tests: a fresh store on a fake clock, and sweeps with N queued
// trials. StoreTest runs a test against every implementation (the interface's semantics);
// RocksDbStoreTest is for what only the RocksDB store has (files, schema, backups, crashes).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/ids.h"
#include "coordinator/store/experiment_store.h"
#include "coordinator/store/memory_store.h"

namespace lf::store::testing {

inline std::string FreshDir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string unique = name + "_" + (info ? std::string(info->test_suite_name()) + "_" +
                                                 info->name()
                                           : "x");
  auto dir = std::filesystem::path(::testing::TempDir()) / ("lf_store_" + unique);
  std::filesystem::remove_all(dir);
  return dir.string();
}

inline SweepRecord MakeSweep(IdGenerator& ids, uint32_t trial_count, const std::string& name = "s") {
  SweepRecord s;
  s.id = ids.NextSweepId();
  s.name = name;
  s.owner = "alice";
  s.spec = "base: {}\n";
  s.resolved = "{}";
  s.trial_count = trial_count;
  return s;
}

inline std::vector<TrialRecord> MakeTrials(const SweepRecord& sweep) {
  std::vector<TrialRecord> trials;
  for (uint32_t i = 0; i < sweep.trial_count; ++i) {
    TrialRecord t;
    t.id = MakeTrialId(sweep.id, i);
    t.sweep_id = sweep.id;
    t.index = i;
    t.config = "{\"lora\":{\"r\":" + std::to_string(1u << (i % 6)) + "}}";
    trials.push_back(std::move(t));
  }
  return trials;
}

enum class StoreKind { kRocksDb, kMemory };

// The parameter of StoreTest suites: INSTANTIATE_TEST_SUITE_P(Stores, Suite, EveryStore(),
// StoreKindName).
inline auto EveryStore() { return ::testing::Values(StoreKind::kRocksDb, StoreKind::kMemory); }
inline std::string StoreKindName(const ::testing::TestParamInfo<StoreKind>& info) {
  return info.param == StoreKind::kRocksDb ? "RocksDb" : "Memory";
}

class StoreFixture : public ::testing::Test {
 protected:
  explicit StoreFixture(StoreKind kind) : kind_(kind) {}
  void SetUp() override {
    if (kind_ == StoreKind::kRocksDb) dir_ = FreshDir("db");
    Reopen();
  }
  // Closes the store and opens what it left. The in-memory store has nothing to reopen from, so
  // it keeps its instance: a test that reopens checks durability on RocksDB and the same
  // semantics on both.
  void Reopen() {
    if (kind_ == StoreKind::kMemory) {
      if (!store_) store_ = NewMemoryStore(&clock_);
      return;
    }
    store_.reset();
    auto opened = OpenRocksDbStore({.path = dir_, .clock = &clock_});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }
  // A sweep with `n` queued trials, stored.
  SweepRecord AddSweep(uint32_t n) {
    SweepRecord s = MakeSweep(ids_, n);
    Status st = store_->CreateSweep(s, MakeTrials(s), "user:alice");
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }
  TransitionRequest Move(const std::string& trial, jobs::TrialState from, jobs::TrialState to) {
    TransitionRequest r;
    r.trial_id = trial;
    r.from = from;
    r.to = to;
    r.actor = "scheduler";
    if (to == jobs::TrialState::kAssigned) r.worker = "host-a/0";
    return r;
  }

  const StoreKind kind_;
  FakeClock clock_;
  IdGenerator ids_{clock_, 11};
  std::string dir_;  // the RocksDB store's directory; empty for the in-memory store
  std::unique_ptr<ExperimentStore> store_;
};

// Parametrized over StoreKind: instantiate each suite with EveryStore().
class StoreTest : public StoreFixture, public ::testing::WithParamInterface<StoreKind> {
 protected:
  StoreTest() : StoreFixture(GetParam()) {}
};

class RocksDbStoreTest : public StoreFixture {
 protected:
  RocksDbStoreTest() : StoreFixture(StoreKind::kRocksDb) {}
};

}  // namespace lf::store::testing
