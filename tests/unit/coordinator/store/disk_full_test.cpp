// The RocksDB store on a disk that fills up: an injected file system (FaultFileSystem) that
// refuses writes with NoSpace, and a real 16 MiB tmpfs where mounting is permitted. Every refused
// write is a Status (no throw, no abort) and changes nothing; a background error stops writes
// with a clear error until TryResume succeeds; nothing acknowledged is lost.
#include <sys/mount.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "coordinator/store/rocksdb_store.h"
#include "store/fault_file_system.h"
#include "store/store_test_util.h"

namespace lf::store::testing {
namespace {

using jobs::TrialState;

// Resumes as the coordinator's tick does: again and again until the store takes writes (RocksDB
// may be recovering on its own, which makes Resume busy) or `seconds` passed.
Status ResumeWithin(ExperimentStore& store, double seconds) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(seconds * 1000));
  while (true) {
    Status s = store.TryResume();
    if (s.ok() || std::chrono::steady_clock::now() > deadline) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshDir("disk_full");
    Reopen();
  }
  void Reopen() {
    store_.reset();
    auto opened = RocksDbStore::Open({.path = dir_, .clock = &clock_}, fs_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }
  TransitionRequest Move(const std::string& trial, TrialState from, TrialState to) {
    return {.trial_id = trial,
            .from = from,
            .to = to,
            .actor = "scheduler",
            .worker = to == TrialState::kAssigned ? "host-a/0" : ""};
  }
  // What a refused write must leave alone: every record, event, metric and file.
  std::string Snapshot() {
    std::string out;
    auto sweeps = store_->ListSweeps();
    EXPECT_TRUE(sweeps.ok());
    for (const auto& s : *sweeps) out += s.id + " " + std::to_string(s.version) + "\n";
    auto trials = store_->ListTrials({});
    EXPECT_TRUE(trials.ok());
    for (const auto& t : *trials) {
      out += t.id + " " + std::string(jobs::TrialStateName(t.state)) + " " +
             std::to_string(t.version) + " " + std::to_string(t.attempt) + "\n";
      auto metrics = store_->ReadMetrics(t.id, {});
      EXPECT_TRUE(metrics.ok());
      for (const auto& p : *metrics) out += p.name + "@" + std::to_string(p.step) + "\n";
      auto files = store_->ListAdapterFiles(t.id);
      EXPECT_TRUE(files.ok());
      for (const auto& f : *files) out += f.name + " " + f.sha256 + "\n";
    }
    auto events = store_->ReadEvents({});
    EXPECT_TRUE(events.ok());
    for (const auto& e : *events) out += std::to_string(e.seq) + " " + e.kind + "\n";
    auto tags = store_->ListTags();
    EXPECT_TRUE(tags.ok());
    for (const auto& t : *tags) out += "tag " + t.name + "\n";
    return out;
  }

  FakeClock clock_;
  IdGenerator ids_{clock_, 7};
  std::shared_ptr<FaultFileSystem> fs_ = std::make_shared<FaultFileSystem>();
  std::string dir_;
  std::unique_ptr<ExperimentStore> store_;
};

TEST_F(DiskFullTest, EveryRefusedWriteIsAStatusAndChangesNothing) {
  SweepRecord sweep = MakeSweep(ids_, 3);
  ASSERT_TRUE(store_->CreateSweep(sweep, MakeTrials(sweep), "user:alice").ok());
  const std::string t0 = MakeTrialId(sweep.id, 0), t1 = MakeTrialId(sweep.id, 1);
  ASSERT_TRUE(store_->TransitionTrial(Move(t0, TrialState::kQueued, TrialState::kAssigned)).ok());
  const MetricPoint point{.step = 1, .name = "loss", .value = 2.5};
  ASSERT_TRUE(store_->AppendMetrics(t0, {&point, 1}).ok());
  const std::string before = Snapshot();

  fs_->Arm();
  SweepRecord other = MakeSweep(ids_, 2);
  std::vector<Status> refused;
  refused.push_back(store_->CreateSweep(other, MakeTrials(other), "user:bob"));
  refused.push_back(
      store_->TransitionTrial(Move(t0, TrialState::kAssigned, TrialState::kRunning)).status());
  for (auto& r :
       store_->TransitionTrials({Move(t1, TrialState::kQueued, TrialState::kAssigned),
                                 Move(t0, TrialState::kAssigned, TrialState::kRunning)})) {
    refused.push_back(r.status());
  }
  const MetricPoint later{.step = 2, .name = "loss", .value = 2.0};
  refused.push_back(store_->AppendMetrics(t0, {&later, 1}));
  refused.push_back(store_->PutAdapterFile(t0, "adapter.bin", "weights", "worker:a").status());
  refused.push_back(store_->RecordEvent({.actor = "scheduler", .kind = "worker.lost"}).status());
  refused.push_back(
      store_->UpdateSweep(sweep.id, {.state = jobs::SweepState::kPaused, .actor = "user:alice"})
          .status());
  refused.push_back(store_->SetTag({.name = "prod", .trial_id = t0, .actor = "user:alice"}));
  for (size_t i = 0; i < refused.size(); ++i) {
    EXPECT_FALSE(refused[i].ok()) << "write " << i << " went through on a full disk";
    EXPECT_NE(refused[i].message().find(dir_), std::string::npos) << refused[i].ToString();
  }
  const StoreHealth health = store_->Health();
  EXPECT_FALSE(health.writable);
  EXPECT_NE(health.error.find("disk is full"), std::string::npos) << health.error;
  EXPECT_GT(health.since_ms, 0);
  // While stopped, writes are refused up front, saying why and what to do.
  Status again = store_->RecordEvent({.actor = "scheduler", .kind = "worker.lost"}).status();
  EXPECT_EQ(again.code(), StatusCode::kUnavailable) << again.ToString();
  EXPECT_NE(again.message().find("free space"), std::string::npos) << again.ToString();
  EXPECT_EQ(Snapshot(), before);  // reads go on, and see nothing of the refused writes

  fs_->Disarm();
  Status resumed = ResumeWithin(*store_, 10);
  ASSERT_TRUE(resumed.ok()) << resumed.ToString();
  EXPECT_TRUE(store_->Health().writable);
  EXPECT_TRUE(store_->Health().error.empty());
  EXPECT_EQ(Snapshot(), before);
  // Writes work again, and the event log has no gap where the refused writes were.
  auto running = store_->TransitionTrial(Move(t0, TrialState::kAssigned, TrialState::kRunning));
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  ASSERT_TRUE(store_->CreateSweep(other, MakeTrials(other), "user:bob").ok());
  auto events = store_->ReadEvents({});
  ASSERT_TRUE(events.ok());
  for (size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].seq, i + 1);

  const std::string after = Snapshot();
  Reopen();
  EXPECT_EQ(Snapshot(), after);  // everything acknowledged is durable, nothing refused is there
}

// A background error RocksDB cannot resume from: the flush before a backup cannot create the
// new WAL it switches to. Writes stay stopped, saying that a restart is needed; reopening the
// store (what restarting the coordinator does) finds everything acknowledged.
TEST_F(DiskFullTest, ErrorThatCannotResumeAsksForARestart) {
  SweepRecord sweep = MakeSweep(ids_, 2);
  ASSERT_TRUE(store_->CreateSweep(sweep, MakeTrials(sweep), "user:alice").ok());
  const std::string t0 = MakeTrialId(sweep.id, 0);
  ASSERT_TRUE(store_->TransitionTrial(Move(t0, TrialState::kQueued, TrialState::kAssigned)).ok());
  const std::string before = Snapshot();

  fs_->Arm();
  EXPECT_FALSE(store_->Backup(dir_ + ".backup").ok());
  fs_->Disarm();  // the disk has room again
  StoreHealth health = store_->Health();
  ASSERT_FALSE(health.writable);
  EXPECT_NE(health.error.find("restart lorafleetd"), std::string::npos) << health.error;
  Status refused =
      store_->TransitionTrial(Move(t0, TrialState::kAssigned, TrialState::kRunning)).status();
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable) << refused.ToString();
  Status resumed = store_->TryResume();
  EXPECT_EQ(resumed.code(), StatusCode::kFailedPrecondition) << resumed.ToString();
  EXPECT_EQ(Snapshot(), before);

  Reopen();
  EXPECT_TRUE(store_->Health().writable);
  EXPECT_EQ(Snapshot(), before);
  ASSERT_TRUE(store_->TransitionTrial(Move(t0, TrialState::kAssigned, TrialState::kRunning)).ok());
  std::filesystem::remove_all(dir_ + ".backup");
  ASSERT_TRUE(store_->Backup(dir_ + ".backup").ok());
  std::filesystem::remove_all(dir_ + ".backup");
}

// A disk that takes the bytes but cannot sync them: the write is refused, and not acknowledged.
TEST_F(DiskFullTest, FailedSyncIsRefusedAndResumable) {
  SweepRecord sweep = MakeSweep(ids_, 1);
  ASSERT_TRUE(store_->CreateSweep(sweep, MakeTrials(sweep), "user:alice").ok());
  const std::string t0 = MakeTrialId(sweep.id, 0);
  const std::string before = Snapshot();
  fs_->Arm(/*syncs_only=*/true);
  EXPECT_FALSE(store_->TransitionTrial(Move(t0, TrialState::kQueued, TrialState::kAssigned)).ok());
  EXPECT_GT(fs_->refused(), 0u);
  EXPECT_FALSE(store_->Health().writable);
  EXPECT_EQ(Snapshot(), before);
  fs_->Disarm();
  Status resumed = ResumeWithin(*store_, 10);
  ASSERT_TRUE(resumed.ok()) << resumed.ToString();
  EXPECT_EQ(Snapshot(), before);
  ASSERT_TRUE(store_->TransitionTrial(Move(t0, TrialState::kQueued, TrialState::kAssigned)).ok());
  const std::string after = Snapshot();
  Reopen();
  EXPECT_EQ(Snapshot(), after);
}

// A real file system that fills up: a 16 MiB tmpfs (needs CAP_SYS_ADMIN; skipped without it).
class SmallDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // A run killed before TearDown leaves its mount behind: detach it first.
    ::umount2((std::filesystem::path(::testing::TempDir()) /
               ("lf_store_tmpfs_" + std::string(info->test_suite_name()) + "_" + info->name()))
                  .c_str(),
              MNT_DETACH);
    mount_ = FreshDir("tmpfs");
    std::filesystem::create_directories(mount_);
    if (::mount("tmpfs", mount_.c_str(), "tmpfs", 0, "size=16m") != 0) {
      const std::string why = std::strerror(errno);
      std::filesystem::remove_all(mount_);
      GTEST_SKIP() << "cannot mount a 16 MiB tmpfs at " << mount_ << " (" << why
                   << "): this test needs root or CAP_SYS_ADMIN; the injected-failure tests "
                      "(DiskFullTest) cover the same paths";
    }
    mounted_ = true;
  }
  void TearDown() override {
    store_.reset();
    if (mounted_) ::umount2(mount_.c_str(), MNT_DETACH);
    std::filesystem::remove_all(mount_);
  }

  std::string mount_;
  bool mounted_ = false;
  FakeClock clock_;
  IdGenerator ids_{clock_, 9};
  std::unique_ptr<ExperimentStore> store_;
};

TEST_F(SmallDiskTest, FillsUpRefusesWritesAndResumesWhenSpaceReturns) {
  const std::string path = mount_ + "/store";
  // Taken first, freed later: what an operator deleting old files gives back. More than half the
  // disk: resuming flushes what the WAL holds, which needs that much room again.
  const std::string ballast = mount_ + "/ballast";
  {
    std::ofstream out(ballast, std::ios::binary);
    out << std::string(10 << 20, 'x');
  }
  auto opened = OpenRocksDbStore({.path = path, .clock = &clock_});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(opened).value();
  SweepRecord sweep = MakeSweep(ids_, 1);
  ASSERT_TRUE(store_->CreateSweep(sweep, MakeTrials(sweep), "user:alice").ok());
  const std::string t0 = MakeTrialId(sweep.id, 0);

  // Adapter files until the disk is full. Each acknowledged one must survive.
  const std::string bytes(256 << 10, 'a');
  int stored = 0;
  Status refused;
  for (int i = 0; i < 64; ++i) {
    auto put = store_->PutAdapterFile(t0, "part" + std::to_string(i), bytes, "worker:a");
    if (!put.ok()) {
      refused = put.status();
      break;
    }
    ++stored;
  }
  ASSERT_FALSE(refused.ok()) << "a 16 MiB disk took " << stored << " files of 256 KiB";
  ASSERT_GT(stored, 0);
  EXPECT_NE(refused.message().find(path), std::string::npos) << refused.ToString();
  // Further writes are refused too, whether RocksDB stopped the store or only the write failed.
  EXPECT_FALSE(store_->PutAdapterFile(t0, "more", bytes, "worker:a").ok());
  EXPECT_FALSE(store_->Health().writable);
  // Still full: resuming is not even tried (a failed try could make a restart necessary).
  Status early = store_->TryResume();
  EXPECT_EQ(early.code(), StatusCode::kUnavailable) << early.ToString();
  EXPECT_NE(early.message().find("MiB free"), std::string::npos) << early.ToString();

  std::filesystem::remove(ballast);
  Status resumed = ResumeWithin(*store_, 10);
  ASSERT_TRUE(resumed.ok()) << resumed.ToString();
  EXPECT_TRUE(store_->Health().writable);
  auto small = store_->PutAdapterFile(t0, "after", "fits now", "worker:a");
  ASSERT_TRUE(small.ok()) << small.status().ToString();

  store_.reset();
  auto reopened = OpenRocksDbStore({.path = path, .clock = &clock_});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  store_ = std::move(reopened).value();
  for (int i = 0; i < stored; ++i) {
    auto file = store_->GetAdapterFile(t0, "part" + std::to_string(i));
    ASSERT_TRUE(file.ok()) << "acknowledged file " << i << " lost: " << file.status().ToString();
    EXPECT_EQ(*file, bytes);
  }
  EXPECT_FALSE(store_->GetAdapterFile(t0, "part" + std::to_string(stored)).ok());
  EXPECT_TRUE(store_->GetAdapterFile(t0, "after").ok());
}

}  // namespace
}  // namespace lf::store::testing
