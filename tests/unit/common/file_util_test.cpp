#include "common/file_util.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace lf {
namespace {

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("lf_file_util_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

TEST(FileUtilTest, AtomicWriteReplacesContentAndLeavesNoTemporaries) {
  std::string dir = TempDir("atomic");
  std::string path = dir + "/a.json";
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, std::string("sec\0nd", 6)).ok());
  Result<std::string> read = ReadFileToString(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, std::string("sec\0nd", 6));
  EXPECT_EQ(std::filesystem::status(path).permissions(), std::filesystem::perms(0644));
  ASSERT_TRUE(WriteFileAtomically(path, "secret", 0600).ok());
  EXPECT_EQ(std::filesystem::status(path).permissions(), std::filesystem::perms(0600));
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(FileUtilTest, AFileOverItsReadersLimitIsRefusedBeforeItIsRead) {
  std::string path = TempDir("limit") + "/config.json";
  ASSERT_TRUE(WriteFileAtomically(path, std::string(1000, 'x')).ok());
  EXPECT_EQ(ReadFileToString(path, 1000)->size(), 1000u);
  Result<std::string> big = ReadFileToString(path, 999);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find(path + ": 1000 bytes, more than the 999 this file may "
                                               "have"),
            std::string::npos)
      << big.status().message();
  // A file whose size stat cannot tell (a FIFO, /proc) is cut off while it is read.
  Result<std::string> proc = ReadFileToString("/proc/self/status", 10);
  ASSERT_FALSE(proc.ok());
  EXPECT_NE(proc.status().message().find("more than the 10 this file may have"), std::string::npos);
  EXPECT_TRUE(ReadFileToString("/proc/self/status")->find("Name:") != std::string::npos);
}

TEST(FileUtilTest, MissingFilesAndDirectoriesAreNamedInErrors) {
  Result<std::string> r = ReadFileToString("/nonexistent/lf/x.txt");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/lf/x.txt"), std::string::npos);
  Status w = WriteFileAtomically("/nonexistent/lf/y.txt", "x");
  EXPECT_FALSE(w.ok());
  EXPECT_NE(w.message().find("/nonexistent/lf"), std::string::npos);
}

TEST(FileUtilTest, CreateDirectoriesIsIdempotent) {
  std::string dir = TempDir("mkdir") + "/a/b/c";
  EXPECT_TRUE(CreateDirectories(dir).ok());
  EXPECT_TRUE(CreateDirectories(dir).ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir));
}

TEST(FileUtilTest, PrivateDirectoriesAreOwnerOnlyEvenWhenTheyExisted) {
  namespace fs = std::filesystem;
  const std::string dir = TempDir("private") + "/home";
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::all, fs::perm_options::replace);  // 0777, as a careless umask
  ASSERT_TRUE(CreatePrivateDirectory(dir).ok());
  EXPECT_EQ(fs::status(dir).permissions(), fs::perms::owner_all);
  const std::string fresh = dir + "/store";
  ASSERT_TRUE(CreatePrivateDirectory(fresh).ok());
  EXPECT_EQ(fs::status(fresh).permissions(), fs::perms::owner_all);
}

}  // namespace
}  // namespace lf
