// A small synchronous HTTP/1.1 client for talking to the coordinator (CLI, tests, benchmarks).
// http:// only. Failures come back as a Status naming the URL: kUnavailable when the server
// cannot be reached or does not answer in time, kInvalidArgument for a bad URL. HttpCall is
// thread-safe (one connection per call); an HttpClient is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace lf {

struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;  // bytes as received (may be binary)
};

struct HttpClientOptions {
  std::chrono::milliseconds timeout{30000};      // the whole call: connect, send and receive
  uint64_t max_reply_bytes = uint64_t{4} << 30;  // a larger reply body is kResourceExhausted
  std::string bearer_token;  // sent as "Authorization: Bearer <token>" when not empty
};

// One request on a fresh connection. base_url: "http://127.0.0.1:7070" (a path after the port,
// such as "/prefix", is put in front of every target); target: "/v1/sweeps?state=running".
// Any HTTP status, 4xx and 5xx included, is a successful call: look at reply.status.
Result<HttpReply> HttpCall(const std::string& base_url, std::string_view method,
                           std::string_view target, std::string_view body = {},
                           std::string_view content_type = "application/json",
                           HttpClientOptions options = {});

// Keeps one connection open across calls and reconnects when the server has closed it.
class HttpClient {
 public:
  explicit HttpClient(std::string base_url, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

  Result<HttpReply> Call(std::string_view method, std::string_view target,
                         std::string_view body = {},
                         std::string_view content_type = "application/json");

  const std::string& base_url() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes everything but RFC 3986's unreserved characters, for a path segment or a
// query value: UrlEncode("a b/c") == "a%20b%2Fc".
std::string UrlEncode(std::string_view text);

}  // namespace lf
