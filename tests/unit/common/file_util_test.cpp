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
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
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
