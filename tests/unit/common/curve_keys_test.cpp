#include "common/curve_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace lf::curve {
namespace {

namespace fs = std::filesystem;

std::string Fresh(const std::string& name) {
  auto dir = fs::path(::testing::TempDir()) / ("lf_keys_" + name);
  fs::remove_all(dir);
  return (dir / "keys").string();
}

unsigned Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(CurveKeysTest, MadeOncePrivateAndBothFilesAgree) {
  const std::string dir = Fresh("make");
  Result<CoordinatorKeys> made = LoadOrCreateKeys(dir);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(Mode(dir), 0700u);
  EXPECT_EQ(Mode(dir + "/coordinator.key"), 0600u);
  EXPECT_EQ(Mode(dir + "/worker.key"), 0600u);
  EXPECT_EQ(made->coordinator.public_key.size(), 40u);
  EXPECT_NE(made->coordinator.public_key, made->worker_public);

  Result<WorkerKeys> worker = ReadWorkerKeys(dir + "/worker.key");
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();
  EXPECT_EQ(worker->coordinator_public, made->coordinator.public_key);
  EXPECT_EQ(worker->worker.public_key, made->worker_public);
  EXPECT_NE(worker->worker.secret_key, made->coordinator.secret_key);

  Result<CoordinatorKeys> again = LoadOrCreateKeys(dir);  // kept across restarts
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->coordinator.secret_key, made->coordinator.secret_key);
  EXPECT_EQ(again->worker_public, made->worker_public);
  EXPECT_NE(LoadOrCreateKeys(Fresh("other"))->worker_public, made->worker_public);
}

TEST(CurveKeysTest, DamagedFilesAreErrorsNamingFileAndKey) {
  const std::string dir = Fresh("bad");
  ASSERT_TRUE(LoadOrCreateKeys(dir).ok());
  const std::string path = dir + "/worker.key";

  std::ofstream(path) << "coordinator_public = short\n";
  Result<WorkerKeys> bad = ReadWorkerKeys(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().field(), "coordinator_public");
  EXPECT_NE(bad.status().message().find(path + ": `coordinator_public` is not a 40-character"),
            std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("delete " + dir), std::string::npos);

  std::ofstream(path) << "# only a comment\n";
  bad = ReadWorkerKeys(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no `coordinator_public`"), std::string::npos);

  std::ofstream(path) << "no equals sign here\n";
  bad = ReadWorkerKeys(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(path + ":1: expected `name = value`"), std::string::npos)
      << bad.status().message();

  EXPECT_EQ(ReadWorkerKeys(dir + "/missing.key").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace lf::curve
