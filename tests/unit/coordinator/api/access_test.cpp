#include "coordinator/api/access.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace lf::api {
namespace {

HttpRequest Request(std::string method, std::string peer, std::string auth = "") {
  HttpRequest r;
  r.method = std::move(method);
  r.path = "/v1/sweeps";
  r.peer = std::move(peer);
  if (!auth.empty()) r.headers["authorization"] = std::move(auth);
  return r;
}

// CheckAccess on a copy: the refusal, or nullopt.
std::optional<HttpResponse> Check(const AccessPolicy& policy, HttpRequest request) {
  return CheckAccess(policy, request);
}

const std::vector<NamedToken> kTokens = {{"s3cret", "operator"}, {"al1ce-t0ken", "alice"}};

TEST(AccessTest, ChangesNeedAJsonContentTypeAndReadsDoNot) {
  HttpRequest post = Request("POST", "127.0.0.1:5000");
  std::optional<HttpResponse> none = CheckJsonContentType(post);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->status, 415);
  EXPECT_NE(none->body.find("POST /v1/sweeps needs 'Content-Type: application/json' (none was sent)"),
            std::string::npos)
      << none->body;
  // What a cross-site form or a text/plain fetch can send without a preflight is refused.
  for (const char* type : {"application/x-www-form-urlencoded", "text/plain", "multipart/form-data",
                           "application/jsonp"}) {
    post.headers["content-type"] = type;
    EXPECT_TRUE(CheckJsonContentType(post).has_value()) << type;
  }
  for (const char* type : {"application/json", "Application/JSON", "application/json; charset=utf-8"}) {
    post.headers["content-type"] = type;
    EXPECT_FALSE(CheckJsonContentType(post).has_value()) << type;
  }
  EXPECT_FALSE(CheckJsonContentType(Request("GET", "10.1.2.3:5000")).has_value());
  EXPECT_FALSE(CheckJsonContentType(Request("HEAD", "10.1.2.3:5000")).has_value());
}

TEST(AccessTest, WithoutATokenEverythingIsOpen) {
  EXPECT_FALSE(Check({}, Request("POST", "10.1.2.3:5000")).has_value());
}

TEST(AccessTest, ChangesNeedTheTokenFromEveryPeer) {
  const AccessPolicy policy{.tokens = kTokens};
  for (const char* peer : {"127.0.0.1:4000", "10.1.2.3:5000"}) {
    auto refused = Check(policy, Request("POST", peer));
    ASSERT_TRUE(refused.has_value()) << peer;
    EXPECT_EQ(refused->status, 401);
    EXPECT_NE(refused->body.find("needs the coordinator's access token"), std::string::npos);
    EXPECT_EQ(refused->headers.at(0).first, "WWW-Authenticate");
    auto wrong = Check(policy, Request("POST", peer, "Bearer s3cre7"));
    ASSERT_TRUE(wrong.has_value());
    EXPECT_NE(wrong->body.find("wrong token"), std::string::npos);
    EXPECT_TRUE(Check(policy, Request("POST", peer, "Bearer s3cret!")).has_value());
    EXPECT_TRUE(Check(policy, Request("POST", peer, "Basic s3cret")).has_value());
    EXPECT_FALSE(Check(policy, Request("POST", peer, "Bearer s3cret")).has_value()) << peer;
    EXPECT_TRUE(Check(policy, Request("DELETE", peer)).has_value());
  }
}

TEST(AccessTest, ReadsAreOpenToThisMachineAndWithOpenReadsToAnyPeer) {
  AccessPolicy policy{.tokens = kTokens};
  for (const char* local : {"127.0.0.1:4000", "[::1]:4000", "[::ffff:127.0.0.1]:80"}) {
    EXPECT_FALSE(Check(policy, Request("GET", local)).has_value()) << local;
  }
  EXPECT_TRUE(Check(policy, Request("GET", "10.1.2.3:5000")).has_value());
  EXPECT_TRUE(Check(policy, Request("GET", "[fe80::1]:5000")).has_value());
  EXPECT_FALSE(Check(policy, Request("GET", "10.1.2.3:5000", "Bearer s3cret")).has_value());
  policy.open_reads = true;
  EXPECT_FALSE(Check(policy, Request("GET", "10.1.2.3:5000")).has_value());
  EXPECT_FALSE(Check(policy, Request("HEAD", "10.1.2.3:5000")).has_value());
  EXPECT_TRUE(Check(policy, Request("POST", "10.1.2.3:5000")).has_value());
}

TEST(AccessTest, TheTokenNamesTheUserAndNoHeaderCanClaimOne) {
  const AccessPolicy policy{.tokens = kTokens};
  HttpRequest alice = Request("POST", "10.1.2.3:5000", "Bearer al1ce-t0ken");
  alice.headers["x-lorafleet-user"] = "bob";  // the old header names nobody now
  EXPECT_FALSE(CheckAccess(policy, alice).has_value());
  EXPECT_EQ(alice.user, "alice");
  HttpRequest op = Request("POST", "127.0.0.1:5000", "Bearer s3cret");
  EXPECT_FALSE(CheckAccess(policy, op).has_value());
  EXPECT_EQ(op.user, "operator");
  HttpRequest reader = Request("GET", "127.0.0.1:5000");  // a loopback read needs no token
  EXPECT_FALSE(CheckAccess(policy, reader).has_value());
  EXPECT_EQ(reader.user, "");
}

TEST(AccessTest, AHostNameTheDaemonDoesNotAnswerToIsRefused) {
  const AccessPolicy policy{.hosts = {"localhost", "gpu-node-1"}};
  HttpRequest r = Request("GET", "127.0.0.1:5000");
  for (const char* host : {"localhost:7070", "LOCALHOST", "gpu-node-1", "gpu-node-1.:80",
                           "127.0.0.1:7070", "10.1.2.3", "[::1]:7070", "::1"}) {
    r.headers["host"] = host;
    EXPECT_FALSE(CheckHost(policy, r).has_value()) << host;
  }
  for (const char* host : {"evil.example", "evil.example:7070", "localhost.evil.example", "",
                           "gpu-node-10"}) {
    r.headers["host"] = host;
    std::optional<HttpResponse> refused = CheckHost(policy, r);
    ASSERT_TRUE(refused.has_value()) << host;
    EXPECT_EQ(refused->status, 421);
    EXPECT_NE(refused->body.find("does not answer to the host name '" + std::string(host) + "'"),
              std::string::npos)
        << refused->body;
  }
  r.headers.erase("host");  // HTTP/1.0
  EXPECT_FALSE(CheckHost(policy, r).has_value());
  EXPECT_FALSE(CheckHost({}, r).has_value());
  const std::vector<std::string> local = LocalHostNames("0.0.0.0");
  EXPECT_EQ(local.front(), "localhost");
  EXPECT_EQ(std::count(local.begin(), local.end(), "0.0.0.0"), 0);
  EXPECT_EQ(LocalHostNames("my-node").back(), "my-node");
}

TEST(AccessTest, AdmitChecksHostThenTokenThenContentType) {
  const AccessPolicy policy{.tokens = kTokens, .hosts = {"localhost"}};
  HttpRequest r = Request("POST", "10.1.2.3:5000", "Bearer s3cret");
  r.headers["host"] = "evil.example";
  EXPECT_EQ(Admit(policy, r)->status, 421);
  r.headers["host"] = "localhost";
  EXPECT_EQ(Admit(policy, r)->status, 415);
  r.headers["content-type"] = "application/json";
  EXPECT_FALSE(Admit(policy, r).has_value());
  r.headers["authorization"] = "Bearer nope";
  EXPECT_EQ(Admit(policy, r)->status, 401);
}

TEST(AccessTest, LoopbackPeersAreRecognised) {
  EXPECT_TRUE(IsLoopbackPeer("127.0.0.1:1"));
  EXPECT_TRUE(IsLoopbackPeer("127.10.0.3:1"));
  EXPECT_TRUE(IsLoopbackPeer("[::1]:1"));
  EXPECT_FALSE(IsLoopbackPeer("128.0.0.1:1"));
  EXPECT_FALSE(IsLoopbackPeer("10.0.0.127:1"));
  EXPECT_FALSE(IsLoopbackPeer("unknown peer"));
}

}  // namespace
}  // namespace lf::api
