#include "common/access_token.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace lf {
namespace {

std::string Fresh(const std::string& name) {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("lf_token_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "token").string();
}

TEST(AccessTokenTest, CreatedOnceWithModeOwnerOnlyThenReadBack) {
  const std::string path = Fresh("create");
  Result<std::string> made = LoadOrCreateAccessToken(path);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->size(), 64u);  // 32 bytes as hex
  EXPECT_EQ(made->find_first_not_of("0123456789abcdef"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(*LoadOrCreateAccessToken(path), *made);  // kept, not replaced
  EXPECT_EQ(*ReadAccessToken(path), *made);
  EXPECT_NE(*LoadOrCreateAccessToken(Fresh("other")), *made);
}

TEST(AccessTokenTest, BadFilesAreErrorsNamingThem) {
  const std::string path = Fresh("bad");
  std::ofstream(path) << "\n";
  Result<std::string> empty = ReadAccessToken(path);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find(path + ": the access token file is empty"),
            std::string::npos);
  std::ofstream(path) << "two words\n";
  EXPECT_NE(ReadAccessToken(path).status().message().find("only printable characters"),
            std::string::npos);
  std::ofstream(path) << "  abc123 \n";
  EXPECT_EQ(*ReadAccessToken(path), "abc123");  // surrounding whitespace is dropped
  EXPECT_FALSE(ReadAccessToken(path + ".missing").ok());
}

}  // namespace
}  // namespace lf
