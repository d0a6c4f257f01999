#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/http_client.h"
#include "coordinator/api/http_server.h"
#include "coordinator/api/router.h"

namespace lf::api {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

HttpRequest Request(std::string method, std::string target) {
  HttpRequest request;
  request.method = std::move(method);
  EXPECT_TRUE(ParseRequestTarget(target, request).ok()) << target;
  return request;
}

Json BodyOf(const HttpResponse& response) { return Json::parse(response.body); }
Json BodyOf(const HttpReply& reply) { return Json::parse(reply.body); }

HttpResponse Named(std::string name) { return JsonResponse(200, Json{{"route", name}}); }

// ---- Router and request parsing, without sockets ----

TEST(RouterTest, MatchesLiteralAndParamSegments) {
  Router router;
  router.Add("GET", "/v1/sweeps", [](const HttpRequest&) { return Named("list"); });
  router.Add("GET", "/v1/sweeps/{id}/trials/{trial}", [](const HttpRequest& r) {
    return JsonResponse(200, Json{{"id", r.params.at("id")}, {"trial", r.params.at("trial")}});
  });
  EXPECT_EQ(BodyOf(router.Dispatch(Request("GET", "/v1/sweeps")))["route"], "list");
  EXPECT_EQ(BodyOf(router.Dispatch(Request("GET", "/v1/sweeps/")))["route"], "list");
  Json both = BodyOf(router.Dispatch(Request("GET", "/v1/sweeps/s%20x/trials/t-7")));
  EXPECT_EQ(both["id"], "s x");
  EXPECT_EQ(both["trial"], "t-7");
  EXPECT_EQ(router.Dispatch(Request("GET", "/v1/sweeps/a/trials")).status, 404);
  EXPECT_EQ(router.Dispatch(Request("GET", "/v1/sweeps//trials/t")).status, 404);
}

TEST(RouterTest, LiteralSegmentBeatsParamWhateverTheOrder) {
  Router router;
  router.Add("GET", "/v1/sweeps/{id}", [](const HttpRequest&) { return Named("param"); });
  router.Add("GET", "/v1/sweeps/compare", [](const HttpRequest&) { return Named("literal"); });
  EXPECT_EQ(BodyOf(router.Dispatch(Request("GET", "/v1/sweeps/compare")))["route"], "literal");
  EXPECT_EQ(BodyOf(router.Dispatch(Request("GET", "/v1/sweeps/abc")))["route"], "param");
}

TEST(RouterTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  Router router;
  router.Add("GET", "/v1/sweeps/{id}", [](const HttpRequest&) { return Named("get"); });
  router.Add("DELETE", "/v1/sweeps/{id}", [](const HttpRequest&) { return Named("delete"); });
  HttpResponse missing = router.Dispatch(Request("GET", "/v1/nothing"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(BodyOf(missing)["error"]["status"], 404);
  EXPECT_NE(BodyOf(missing)["error"]["message"].get<std::string>().find("/v1/nothing"),
            std::string::npos);

  HttpResponse wrong = router.Dispatch(Request("POST", "/v1/sweeps/abc"));
  EXPECT_EQ(wrong.status, 405);
  ASSERT_EQ(wrong.headers.size(), 1u);
  EXPECT_EQ(wrong.headers[0].first, "Allow");
  EXPECT_EQ(wrong.headers[0].second, "DELETE, GET");
  EXPECT_EQ(BodyOf(wrong)["error"]["status"], 405);
}

TEST(RouterTest, ThrowingHandlerBecomes500) {
  Router router;
  router.Add("GET", "/boom",
             [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("disk on fire"); });
  HttpResponse response = router.Dispatch(Request("GET", "/boom"));
  EXPECT_EQ(response.status, 500);
  EXPECT_NE(BodyOf(response)["error"]["message"].get<std::string>().find("disk on fire"),
            std::string::npos);
}

TEST(RouterTest, QueryIsPercentDecoded) {
  HttpRequest request =
      Request("GET", "/v1/x%2Ey?state=running&name=a%20b+c&flag&limit=1&limit=10");
  EXPECT_EQ(request.path, "/v1/x.y");
  EXPECT_EQ(request.query.at("state"), "running");
  EXPECT_EQ(request.query.at("name"), "a b c");
  EXPECT_EQ(request.query.at("flag"), "");
  EXPECT_EQ(request.query.at("limit"), "10");  // the last repeat wins

  HttpRequest bad;
  EXPECT_EQ(ParseRequestTarget("/v1/x?a=%zz", bad).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRequestTarget("/v1/a%2Fb", bad).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRequestTarget("http://host/v1", bad).code(), StatusCode::kInvalidArgument);
}

TEST(RouterTest, ErrorResponsesHaveOneShapeAndMapStatusCodes) {
  Json with_field = BodyOf(ErrorResponse(400, "expected a positive integer", "sweep.lora.r[2]"));
  EXPECT_EQ(with_field, (Json{{"error",
                               {{"status", 400},
                                {"message", "expected a positive integer"},
                                {"field", "sweep.lora.r[2]"}}}}));
  EXPECT_FALSE(BodyOf(ErrorResponse(404, "gone"))["error"].contains("field"));
  EXPECT_EQ(ErrorResponse(InvalidArgument("x")).status, 400);
  EXPECT_EQ(ErrorResponse(NotFound("x")).status, 404);
  EXPECT_EQ(ErrorResponse(AlreadyExists("x")).status, 409);
  EXPECT_EQ(ErrorResponse(Conflict("x")).status, 409);
  EXPECT_EQ(ErrorResponse(FailedPrecondition("x")).status, 409);
  EXPECT_EQ(ErrorResponse(Unavailable("x")).status, 503);
  EXPECT_EQ(ErrorResponse(Internal("x")).status, 500);
  EXPECT_EQ(BodyOf(ErrorResponse(NotFound("no sweep 'abc'")))["error"]["message"],
            "no sweep 'abc'");
  // Invalid UTF-8 from user input must not make serialising the error throw.
  EXPECT_EQ(ErrorResponse(400, "bad \xff byte").status, 400);
}

// ---- A real server on a background thread ----

// A plain socket, for requests our client would never send.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~RawConnection() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }
  void Send(std::string_view data) {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  // Reads until the peer closes (closed = true), `wanted` bytes arrived, or `limit` passes.
  std::string Read(std::chrono::milliseconds limit, bool& closed, size_t wanted = SIZE_MAX) {
    std::string data;
    closed = false;
    Clock::time_point deadline = Clock::now() + limit;
    while (data.size() < wanted) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd fd{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&fd, 1, static_cast<int>(left.count())) <= 0) break;
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, std::min(sizeof(chunk), wanted - data.size()), 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      data.append(chunk, static_cast<size_t>(n));
    }
    return data;
  }

 private:
  int fd_;
  bool connected_ = false;
};

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() {
    auto echo = [](const HttpRequest& r) {
      Json query = Json::object();
      for (const auto& [k, v] : r.query) query[k] = v;
      return JsonResponse(
          200, Json{{"method", r.method},
                    {"path", r.path},
                    {"query", query},
                    {"body", r.body},
                    {"peer", r.peer},
                    {"x-test", r.headers.count("x-test") ? r.headers.at("x-test") : ""}});
    };
    router_.Add("GET", "/v1/echo", echo);
    router_.Add("POST", "/v1/echo", echo);
    router_.Add("GET", "/v1/sweeps/{id}", [](const HttpRequest& r) {
      return JsonResponse(200, Json{{"id", r.params.at("id")}});
    });
    router_.Add("GET", "/v1/throw",
                [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
    router_.Add("POST", "/v1/blob", [](const HttpRequest& r) {
      HttpResponse response;
      response.content_type = "application/octet-stream";
      response.body = r.body;
      response.headers.emplace_back("Content-Disposition", "attachment; filename=\"a.bin\"");
      return response;
    });
  }

  void StartServer(HttpServerOptions options = {}, int threads = 1) {
    options.port = 0;
    auto server = HttpServer::Start(io_, router_, options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  // Stop must let io.run() return: every test ends through here, open connections or not.
  void TearDown() override {
    if (server_) server_->Stop();
    for (auto& thread : threads_) thread.join();
  }

  boost::asio::io_context io_;  // declared first: outlives the server
  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::vector<std::thread> threads_;
  std::string url_;
};

TEST_F(HttpServerTest, GetAndPostRoundTripWithHttpCall) {
  StartServer();
  auto got = HttpCall(url_, "GET", "/v1/echo?state=running&name=a%20b");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->content_type, "application/json");
  Json body = BodyOf(*got);
  EXPECT_EQ(body["method"], "GET");
  EXPECT_EQ(body["path"], "/v1/echo");
  EXPECT_EQ(body["query"], (Json{{"state", "running"}, {"name", "a b"}}));

  auto posted = HttpCall(url_, "POST", "/v1/echo", R"({"name":"s1"})");
  ASSERT_TRUE(posted.ok()) << posted.status().ToString();
  EXPECT_EQ(BodyOf(*posted)["body"], R"({"name":"s1"})");

  auto param = HttpCall(url_, "GET", "/v1/sweeps/" + UrlEncode("my sweep"));
  ASSERT_TRUE(param.ok());
  EXPECT_EQ(BodyOf(*param)["id"], "my sweep");

  auto missing = HttpCall(url_, "GET", "/v1/nope");
  ASSERT_TRUE(missing.ok());  // an HTTP error is still a reply
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(BodyOf(*missing)["error"]["status"], 404);
  auto wrong_method = HttpCall(url_, "DELETE", "/v1/echo");
  ASSERT_TRUE(wrong_method.ok());
  EXPECT_EQ(wrong_method->status, 405);
  auto bad_escape = HttpCall(url_, "GET", "/v1/echo?x=%zz");
  ASSERT_TRUE(bad_escape.ok());
  EXPECT_EQ(bad_escape->status, 400);
}

TEST_F(HttpServerTest, HttpClientKeepsOneConnectionAcrossManyCalls) {
  StartServer();
  HttpClient client(url_);
  std::set<std::string> peers;
  for (int i = 0; i < 50; ++i) {
    auto reply = client.Call(i % 2 ? "POST" : "GET", "/v1/echo", i % 2 ? "x" : "");
    ASSERT_TRUE(reply.ok()) << reply.status().ToString();
    ASSERT_EQ(reply->status, 200);
    peers.insert(BodyOf(*reply)["peer"].get<std::string>());
  }
  EXPECT_EQ(peers.size(), 1u);
  // HttpCall opens a connection per call.
  auto a = HttpCall(url_, "GET", "/v1/echo");
  auto b = HttpCall(url_, "GET", "/v1/echo");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(BodyOf(*a)["peer"], BodyOf(*b)["peer"]);
}

TEST_F(HttpServerTest, HttpClientReconnectsAfterTheServerDropsAnIdleConnection) {
  StartServer({.request_timeout = 200ms});
  HttpClient client(url_);
  auto first = client.Call("POST", "/v1/echo", "1");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::this_thread::sleep_for(500ms);  // the server closes the idle connection meanwhile
  auto second = client.Call("POST", "/v1/echo", "2");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(BodyOf(*second)["body"], "2");
  EXPECT_NE(BodyOf(*first)["peer"], BodyOf(*second)["peer"]);
}

TEST_F(HttpServerTest, OversizeBodyGets413) {
  StartServer({.max_body_bytes = 1024});
  auto fits = HttpCall(url_, "POST", "/v1/echo", std::string(1024, 'a'));
  ASSERT_TRUE(fits.ok()) << fits.status().ToString();
  EXPECT_EQ(fits->status, 200);
  auto reply = HttpCall(url_, "POST", "/v1/echo", std::string(64 << 10, 'a'));
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->status, 413);
  EXPECT_EQ(reply->content_type, "application/json");
  EXPECT_NE(BodyOf(*reply)["error"]["message"].get<std::string>().find("1024"), std::string::npos);
  auto after = HttpCall(url_, "GET", "/v1/echo");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status, 200);
  // Far more than the socket buffers hold: the reply must still arrive, not a reset.
  auto huge = HttpCall(url_, "POST", "/v1/echo", std::string(8 << 20, 'a'));
  ASSERT_TRUE(huge.ok()) << huge.status().ToString();
  EXPECT_EQ(huge->status, 413);
}

TEST_F(HttpServerTest, MalformedRequestGets400AndTheConnectionIsClosed) {
  StartServer();
  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.connected());
  raw.Send("GET /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n");
  bool closed = false;
  std::string reply = raw.Read(5s, closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400 ", 0), 0u) << reply;
  EXPECT_NE(reply.find(R"("status":400)"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply;
}

TEST_F(HttpServerTest, ThrowingHandlerGets500AndTheServerKeepsServing) {
  StartServer();
  HttpClient client(url_);
  auto thrown = client.Call("GET", "/v1/throw");
  ASSERT_TRUE(thrown.ok()) << thrown.status().ToString();
  EXPECT_EQ(thrown->status, 500);
  EXPECT_NE(BodyOf(*thrown)["error"]["message"].get<std::string>().find("boom"), std::string::npos);
  auto next = client.Call("GET", "/v1/echo");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, SilentAndTricklingClientsAreDroppedWhileOthersAreServed) {
  StartServer({.request_timeout = 200ms});
  RawConnection silent(server_->port());
  RawConnection partial(server_->port());
  ASSERT_TRUE(silent.connected() && partial.connected());
  partial.Send("GET /v1/echo HTTP/1.1\r\n");
  Clock::time_point start = Clock::now();
  auto served = HttpCall(url_, "GET", "/v1/echo");
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  EXPECT_EQ(served->status, 200);

  for (RawConnection* raw : {&silent, &partial}) {
    bool closed = false;
    std::string data = raw->Read(5s, closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(data, "");
  }
  auto waited = Clock::now() - start;
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 3s);
}

TEST_F(HttpServerTest, ConnectionsPastTheLimitGet503AndClose) {
  StartServer({.max_connections = 2});
  RawConnection a(server_->port()), b(server_->port());
  ASSERT_TRUE(a.connected() && b.connected());
  a.Send("GET /v1/echo HTTP/1.1\r\nHost: x\r\n\r\n");  // both surely accepted once answered
  b.Send("GET /v1/echo HTTP/1.1\r\nHost: x\r\n\r\n");
  bool closed = false;
  EXPECT_NE(a.Read(5s, closed, 12).find("200"), std::string::npos);
  EXPECT_NE(b.Read(5s, closed, 12).find("200"), std::string::npos);
  RawConnection third(server_->port());
  ASSERT_TRUE(third.connected());
  std::string refused = third.Read(5s, closed, 4096);
  EXPECT_TRUE(closed);
  EXPECT_NE(refused.find("503 Service Unavailable"), std::string::npos) << refused;
  EXPECT_NE(refused.find("too many open connections"), std::string::npos) << refused;
  // Room again once one closes.
  a.Close();
  Result<HttpReply> served = Status(Unavailable("not tried"));
  for (int i = 0; i < 50 && !(served.ok() && served->status == 200); ++i) {
    std::this_thread::sleep_for(20ms);
    served = HttpCall(url_, "GET", "/v1/echo");
  }
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  EXPECT_EQ(served->status, 200);
}

TEST_F(HttpServerTest, BinaryBodiesRoundTrip) {
  StartServer();
  std::string blob;
  for (int i = 0; i < (256 << 10); ++i) blob += static_cast<char>((i * 7 + i / 256) & 0xff);
  auto reply = HttpCall(url_, "POST", "/v1/blob", blob, "application/octet-stream");
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->content_type, "application/octet-stream");
  EXPECT_EQ(reply->body.size(), blob.size());
  EXPECT_TRUE(reply->body == blob);
}

TEST_F(HttpServerTest, ExpectContinueIsAnswered) {
  StartServer();
  RawConnection raw(server_->port());
  raw.Send(
      "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
      "Connection: close\r\n\r\n");
  bool closed = false;
  std::string interim = raw.Read(5s, closed, 25);
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  raw.Send("hello");
  std::string reply = raw.Read(5s, closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 ", 0), 0u) << reply;
  EXPECT_NE(reply.find(R"("body":"hello")"), std::string::npos) << reply;
}

TEST_F(HttpServerTest, TheAdmissionCheckAnswersFromTheHeaderBeforeAnyBodyIsRead) {
  std::atomic<int> handled{0};
  router_.Add("POST", "/v1/count", [&handled](const HttpRequest& r) {
    ++handled;
    return JsonResponse(200, Json{{"user", r.user}, {"body", r.body.size()}});
  });
  StartServer({.admit = [](HttpRequest& r) -> std::optional<HttpResponse> {
    if (r.headers.count("authorization") == 0) return ErrorResponse(401, "no token");
    r.user = "alice";
    return std::nullopt;
  }});
  {
    // A 60 MiB body announced: the refusal comes without a 100 Continue, so it is never sent.
    RawConnection raw(server_->port());
    raw.Send("POST /v1/count HTTP/1.1\r\nHost: x\r\nContent-Length: 62914560\r\n"
             "Expect: 100-continue\r\n\r\n");
    bool closed = false;
    std::string reply = raw.Read(5s, closed);
    EXPECT_EQ(reply.rfind("HTTP/1.1 401 ", 0), 0u) << reply;
    EXPECT_EQ(reply.find("100 Continue"), std::string::npos) << reply;
    EXPECT_TRUE(closed) << "a refused connection stays open";
  }
  RawConnection raw(server_->port());
  raw.Send("POST /v1/count HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
           "Content-Length: 3\r\nConnection: close\r\n\r\nabc");
  bool closed = false;
  std::string reply = raw.Read(5s, closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 ", 0), 0u) << reply;
  EXPECT_NE(reply.find(R"("user":"alice")"), std::string::npos) << reply;
  EXPECT_EQ(handled.load(), 1);
}

TEST_F(HttpServerTest, ManyConcurrentClientsOnSeveralIoThreads) {
  StartServer({}, /*threads=*/3);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      HttpClient client(url_);
      for (int i = 0; i < 25; ++i) {
        std::string body = std::to_string(c) + "/" + std::to_string(i);
        auto reply = client.Call("POST", "/v1/echo", body);
        if (reply.ok() && reply->status == 200 && BodyOf(*reply)["body"] == body) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 8 * 25);
}

TEST_F(HttpServerTest, StopClosesOpenConnections) {
  StartServer();
  RawConnection raw(server_->port());
  auto warm = HttpCall(url_, "GET", "/v1/echo");  // the raw connection has surely been accepted
  ASSERT_TRUE(warm.ok());
  server_->Stop();
  bool closed = false;
  raw.Read(5s, closed);
  EXPECT_TRUE(closed);
  auto refused = HttpCall(url_, "GET", "/v1/echo", {}, "application/json", {.timeout = 2s});
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
}

TEST_F(HttpServerTest, PortInUseIsAnErrorNamingHostAndPort) {
  StartServer();
  boost::asio::io_context other_io;
  auto second = HttpServer::Start(other_io, router_, {.port = server_->port()});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  std::string where = "127.0.0.1:" + std::to_string(server_->port());
  EXPECT_NE(second.status().message().find(where), std::string::npos) << second.status().message();
  EXPECT_NE(second.status().message().find("already in use"), std::string::npos);
}

TEST_F(HttpServerTest, UnresolvableHostIsInvalidArgument) {
  auto server = HttpServer::Start(io_, router_, {.host = "no-such-host.invalid", .port = 0});
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(server.status().message().find("no-such-host.invalid"), std::string::npos);
}

}  // namespace
}  // namespace lf::api
