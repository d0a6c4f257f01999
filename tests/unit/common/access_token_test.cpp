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
  std::ofstream(path) << "bad\x01token\n";
  EXPECT_NE(ReadAccessToken(path).status().message().find(path + ":1: an access token may hold "
                                                                 "only printable characters"),
            std::string::npos);
  std::ofstream(path) << "  abc123 \n";
  EXPECT_EQ(*ReadAccessToken(path), "abc123");  // surrounding whitespace is dropped
  EXPECT_FALSE(ReadAccessToken(path + ".missing").ok());
}

TEST(AccessTokenTest, OneLinePerUserNamesWhoEachTokenActsAs) {
  const std::string path = Fresh("named");
  std::ofstream(path) << "0perat0r\n# users\n\nalic3-token alice\nb0b-token\tbob.smith\n";
  Result<std::vector<NamedToken>> tokens = ReadAccessTokens(path);
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[0].token, "0perat0r");
  EXPECT_EQ((*tokens)[0].name, "operator");  // the first line's, unnamed
  EXPECT_EQ((*tokens)[1].name, "alice");
  EXPECT_EQ((*tokens)[2].token, "b0b-token");
  EXPECT_EQ((*tokens)[2].name, "bob.smith");
  EXPECT_EQ(*ReadAccessToken(path), "0perat0r");  // what the CLI sends

  struct Bad {
    const char* text;
    const char* error;
  };
  for (const Bad& bad : {Bad{"op\nunnamed\n", ":2: only the first token may go without a name"},
                         Bad{"op\nt1 alice\nt1 bob\n", ":3: this token is already on an earlier"},
                         Bad{"op\nt1 al ice\n", ":2: the name 'al ice' may hold only"},
                         Bad{"op\nt1 \xc3\xa9\n", ":2: the name"}}) {
    std::ofstream(path) << bad.text;
    Result<std::vector<NamedToken>> refused = ReadAccessTokens(path);
    ASSERT_FALSE(refused.ok()) << bad.text;
    EXPECT_NE(refused.status().message().find(path + bad.error), std::string::npos)
        << refused.status().message();
  }
}

}  // namespace
}  // namespace lf
