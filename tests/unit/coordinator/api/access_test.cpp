#include "coordinator/api/access.h"

#include <gtest/gtest.h>

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
  EXPECT_FALSE(CheckAccess({}, Request("POST", "10.1.2.3:5000")).has_value());
}

TEST(AccessTest, ChangesNeedTheTokenFromEveryPeer) {
  const AccessPolicy policy{.token = "s3cret"};
  for (const char* peer : {"127.0.0.1:4000", "10.1.2.3:5000"}) {
    auto refused = CheckAccess(policy, Request("POST", peer));
    ASSERT_TRUE(refused.has_value()) << peer;
    EXPECT_EQ(refused->status, 401);
    EXPECT_NE(refused->body.find("needs the coordinator's access token"), std::string::npos);
    EXPECT_EQ(refused->headers.at(0).first, "WWW-Authenticate");
    auto wrong = CheckAccess(policy, Request("POST", peer, "Bearer s3cre7"));
    ASSERT_TRUE(wrong.has_value());
    EXPECT_NE(wrong->body.find("wrong token"), std::string::npos);
    EXPECT_TRUE(CheckAccess(policy, Request("POST", peer, "Bearer s3cret!")).has_value());
    EXPECT_TRUE(CheckAccess(policy, Request("POST", peer, "Basic s3cret")).has_value());
    EXPECT_FALSE(CheckAccess(policy, Request("POST", peer, "Bearer s3cret")).has_value()) << peer;
    EXPECT_TRUE(CheckAccess(policy, Request("DELETE", peer)).has_value());
  }
}

TEST(AccessTest, ReadsAreOpenToThisMachineAndWithOpenReadsToAnyPeer) {
  AccessPolicy policy{.token = "s3cret"};
  for (const char* local : {"127.0.0.1:4000", "[::1]:4000", "[::ffff:127.0.0.1]:80"}) {
    EXPECT_FALSE(CheckAccess(policy, Request("GET", local)).has_value()) << local;
  }
  EXPECT_TRUE(CheckAccess(policy, Request("GET", "10.1.2.3:5000")).has_value());
  EXPECT_TRUE(CheckAccess(policy, Request("GET", "[fe80::1]:5000")).has_value());
  EXPECT_FALSE(CheckAccess(policy, Request("GET", "10.1.2.3:5000", "Bearer s3cret")).has_value());
  policy.open_reads = true;
  EXPECT_FALSE(CheckAccess(policy, Request("GET", "10.1.2.3:5000")).has_value());
  EXPECT_FALSE(CheckAccess(policy, Request("HEAD", "10.1.2.3:5000")).has_value());
  EXPECT_TRUE(CheckAccess(policy, Request("POST", "10.1.2.3:5000")).has_value());
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
