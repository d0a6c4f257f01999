// The client's failures, against plain sockets: the server side is tested with the real server
// in tests/unit/coordinator/api/http_server_test.cpp.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/http_client.h"

namespace lf {
namespace {

using namespace std::chrono_literals;

// A listening socket on a free loopback port that never accepts: the kernel completes the
// handshake, and nothing ever answers.
class SilentListener {
 public:
  SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t size = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  uint16_t port_ = 0;
};

TEST(HttpClientTest, ConnectionRefusedIsUnavailableNamingTheUrl) {
  SilentListener listener;
  std::string url = listener.url();
  listener.Close();  // nothing listens on that port now
  auto reply = HttpCall(url, "GET", "/v1/health");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(reply.status().message(), "cannot reach " + url + ": connection refused");
}

TEST(HttpClientTest, NoReplyTimesOutAsUnavailable) {
  SilentListener listener;
  auto started = std::chrono::steady_clock::now();
  auto reply =
      HttpCall(listener.url(), "GET", "/v1/health", {}, "application/json", {.timeout = 200ms});
  auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(reply.status().message().find(listener.url()), std::string::npos);
  EXPECT_NE(reply.status().message().find("no reply within 200 ms"), std::string::npos)
      << reply.status().message();
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 3s);
}

TEST(HttpClientTest, GarbageReplyIsUnavailableAndSaysSo) {
  SilentListener listener;
  std::thread server([&] {
    int connection = ::accept(listener.fd(), nullptr, nullptr);
    char request[4096];
    (void)::recv(connection, request, sizeof(request), 0);
    std::string junk = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
    (void)::send(connection, junk.data(), junk.size(), MSG_NOSIGNAL);
    ::close(connection);
  });
  auto reply = HttpCall(listener.url(), "GET", "/v1/health");
  server.join();
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("not valid HTTP"), std::string::npos)
      << reply.status().message();
}

TEST(HttpClientTest, ReadsAReplyWithItsBody) {
  SilentListener listener;
  std::thread server([&] {
    int connection = ::accept(listener.fd(), nullptr, nullptr);
    char request[4096];
    (void)::recv(connection, request, sizeof(request), 0);
    std::string answer =
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        "Connection: close\r\n\r\n{}";
    (void)::send(connection, answer.data(), answer.size(), MSG_NOSIGNAL);
    ::close(connection);
  });
  HttpClient client(listener.url() + "/");
  auto reply = client.Call("GET", "/v1/x");
  server.join();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->status, 404);
  EXPECT_EQ(reply->content_type, "application/json");
  EXPECT_EQ(reply->body, "{}");
}

TEST(HttpClientTest, BadUrlsAndTargetsAreInvalidArgument) {
  for (const char* url : {"127.0.0.1:7070", "https://host:7070", "http://", "http://:7070",
                          "http://host:0", "http://host:70000", "http://host:x",
                          "http://user@host:1", "http://host:1/a?b=c", "http://[::1"}) {
    auto reply = HttpCall(url, "GET", "/v1/x");
    ASSERT_FALSE(reply.ok()) << url;
    EXPECT_EQ(reply.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(reply.status().message().find(url), std::string::npos) << reply.status().message();
  }
  EXPECT_EQ(HttpCall("http://127.0.0.1:1", "GET", "v1/x").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpCall("http://127.0.0.1:1", "GET", "/v1/a b").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpCall("http://127.0.0.1:1", "GE T", "/v1/x").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(HttpClientTest, UrlEncodeKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(UrlEncode("a b/c"), "a%20b%2Fc");
  EXPECT_EQ(UrlEncode("Az09-._~"), "Az09-._~");
  EXPECT_EQ(UrlEncode("\xff&="), "%FF%26%3D");
}

}  // namespace
}  // namespace lf
