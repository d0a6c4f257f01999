#include "cli/commands/remote.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/ids.h"

namespace lf::cli {
namespace {

namespace fs = std::filesystem;

// Each test gets a fresh temporary folder and a clean LORAFLEET_URL / LORAFLEET_HOME.
class RemoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lf_cli_remote_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::unsetenv("LORAFLEET_URL");
    ::unsetenv("LORAFLEET_HOME");
    ::unsetenv("LORAFLEET_TOKEN");
  }
  void TearDown() override {
    ::unsetenv("LORAFLEET_URL");
    ::unsetenv("LORAFLEET_HOME");
    ::unsetenv("LORAFLEET_TOKEN");
    fs::remove_all(dir_);
  }
  void WriteFile(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  fs::path dir_;
};

TEST_F(RemoteTest, HomeFlagThenEnvironmentThenDefault) {
  EXPECT_EQ(ResolveHome(std::nullopt), (fs::current_path() / ".lorafleet").string());
  ::setenv("LORAFLEET_HOME", (dir_ / "env").c_str(), 1);
  EXPECT_EQ(ResolveHome(std::nullopt), (dir_ / "env").string());
  EXPECT_EQ(ResolveHome((dir_ / "flag").string()), (dir_ / "flag").string());
}

TEST_F(RemoteTest, TokenFromTheEnvironmentThenTheHomeFolder) {
  const std::string home = (dir_ / "home").string();
  EXPECT_EQ(*ResolveToken(home), "");  // no file: no token, requests go without one
  WriteFile(dir_ / "home" / "token", "abc123\n");
  EXPECT_EQ(TokenFilePath(home), (dir_ / "home" / "token").string());
  EXPECT_EQ(*ResolveToken(home), "abc123");
  ::setenv("LORAFLEET_TOKEN", "from-env", 1);
  EXPECT_EQ(*ResolveToken(home), "from-env");
  ::unsetenv("LORAFLEET_TOKEN");
  WriteFile(dir_ / "home" / "token", "\n");
  Result<std::string> empty = ResolveToken(home);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find(TokenFilePath(home)), std::string::npos);
  // A 401 says what to do, and is no retryable failure.
  Status st = StatusFromReply(401, R"({"error": {"message": "this request needs the token"}})",
                              "POST", "/v1/sweeps");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("needs the token"), std::string::npos);
}

TEST_F(RemoteTest, UrlResolutionOrder) {
  const std::string home = (dir_ / "home").string();
  // Nothing set: the default.
  Result<Endpoint> ep = ResolveEndpoint(std::nullopt, home);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->url, "http://127.0.0.1:7070");
  EXPECT_EQ(ep->source, "default");
  EXPECT_EQ(ep->home, home);
  // The coordinator file beats the default.
  WriteFile(dir_ / "home" / "coordinator.json",
            R"({"http": "http://127.0.0.1:17070", "workers": "tcp://127.0.0.1:17071", "pid": 42})");
  ep = ResolveEndpoint(std::nullopt, home);
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->url, "http://127.0.0.1:17070");
  EXPECT_EQ(ep->source, CoordinatorFilePath(home));
  // The home can come from the environment too.
  ::setenv("LORAFLEET_HOME", home.c_str(), 1);
  ep = ResolveEndpoint(std::nullopt, std::nullopt);
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->url, "http://127.0.0.1:17070");
  // LORAFLEET_URL beats the file.
  ::setenv("LORAFLEET_URL", "10.0.0.5:8080/", 1);
  ep = ResolveEndpoint(std::nullopt, home);
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->url, "http://10.0.0.5:8080");
  EXPECT_EQ(ep->source, "LORAFLEET_URL");
  // --url beats everything.
  ep = ResolveEndpoint(std::string("http://flag:1"), home);
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->url, "http://flag:1");
  EXPECT_EQ(ep->source, "--url");
}

TEST_F(RemoteTest, MalformedCoordinatorFileNamesItself) {
  WriteFile(dir_ / "coordinator.json", R"({"workers": "tcp://x:1"})");
  Result<Endpoint> ep = ResolveEndpoint(std::nullopt, dir_.string());
  ASSERT_FALSE(ep.ok());
  EXPECT_NE(ep.status().message().find("coordinator.json"), std::string::npos)
      << ep.status().message();
  EXPECT_NE(ep.status().message().find("http"), std::string::npos);
  WriteFile(dir_ / "coordinator.json", "{not json");
  EXPECT_FALSE(ResolveEndpoint(std::nullopt, dir_.string()).ok());
  Result<CoordinatorFile> missing = ReadCoordinatorFile((dir_ / "nope.json").string());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(UrlTest, Normalize) {
  EXPECT_EQ(*NormalizeUrl("127.0.0.1:7070"), "http://127.0.0.1:7070");
  EXPECT_EQ(*NormalizeUrl("http://h:1//"), "http://h:1");
  EXPECT_EQ(*NormalizeUrl("HTTP://h:1"), "HTTP://h:1");
  EXPECT_FALSE(NormalizeUrl("").ok());
  EXPECT_FALSE(NormalizeUrl("https://h:1").ok());
}

TEST(IdTest, SweepsTrialsAndNeither) {
  const std::string sweep = NewSweepId();
  EXPECT_EQ(ClassifyId(sweep), IdKind::kSweep);
  EXPECT_EQ(ClassifyId(MakeTrialId(sweep, 3)), IdKind::kTrial);
  EXPECT_EQ(ClassifyId(sweep + "-12"), IdKind::kInvalid);
  EXPECT_EQ(ClassifyId("hello"), IdKind::kInvalid);
  EXPECT_EQ(ClassifyId(""), IdKind::kInvalid);
  EXPECT_TRUE(CheckId(sweep).ok());
  Status bad = CheckId("hello");
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("'hello' is neither a sweep id"), std::string::npos);
}

TEST(ReplyTest, ApiErrorsBecomeFieldAndMessage) {
  Status st = StatusFromReply(
      400,
      R"({"error": {"status": 400, "message": "expected a positive integer, got 0", "field": "sweep.space.lora.r[2]"}})",
      "POST", "/v1/sweeps");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "sweep.space.lora.r[2]: expected a positive integer, got 0");
  // A message that already starts with its field is not repeated.
  st = StatusFromReply(404, R"({"error": {"message": "sweep x: not found", "field": "sweep"}})",
                       "GET", "/v1/sweeps/x");
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(st.message(), "sweep x: not found");
  st = StatusFromReply(409, R"({"error": {"message": "already finished", "field": ""}})", "POST",
                       "/x");
  EXPECT_EQ(st.code(), StatusCode::kConflict);
  EXPECT_EQ(st.message(), "already finished");
  st = StatusFromReply(502, "<html>bad gateway</html>\n", "GET", "/v1/queue");
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_EQ(st.message(), "HTTP 502 from GET /v1/queue: <html>bad gateway</html>");
}

TEST(ReplyTest, RefusedConnectionSaysHowToStart) {
  Status st =
      StatusFromTransport(Unavailable("cannot reach http://127.0.0.1:7070: connection refused"),
                          "http://127.0.0.1:7070");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(
      st.message(),
      "the coordinator is not running at http://127.0.0.1:7070 (connection refused); start it "
      "with `lorafleet up`");
  st = StatusFromTransport(Unavailable("GET http://h:1/v1/queue: no reply within 30000 ms"),
                           "http://h:1");
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded);
}

// A real call to a port nothing listens on.
TEST(ReplyTest, CoordinatorCallToAClosedPort) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);  // bound, never listened: connecting is refused
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  Result<Json> reply = Coordinator(url).Get("/v1/health");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().message(), "the coordinator is not running at " + url +
                                          " (connection refused); start it with `lorafleet up`");
}

}  // namespace
}  // namespace lf::cli
