// Who may call the API. With access tokens configured (common/access_token.h), every request
// that changes something (any method but GET and HEAD) must carry `Authorization: Bearer
// <token>`; reads are open to clients on this machine (loopback peers) and, with `open_reads`,
// to any peer that reaches the port (a dashboard or a Prometheus server elsewhere), otherwise
// they need a token too. Without tokens everything is open, as for a daemon started by hand on a
// private machine. The HTTP server runs Admit on each request's header, before its body is read.
// Values, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/access_token.h"
#include "common/status.h"
#include "coordinator/api/http_message.h"

namespace lf::api {

struct AccessPolicy {
  std::vector<NamedToken> tokens;  // empty: no token checks
  bool open_reads = false;         // GET/HEAD from any peer without a token
  // Names the Host header may carry besides IP literals (DNS rebinding: a page on evil.example
  // whose name is made to resolve to 127.0.0.1 sends `Host: evil.example`). Empty: any.
  std::vector<std::string> hosts;
};

// Everything the header decides, in order: Host, token (setting request.user to the token's
// name), Content-Type. The refusal to send, or nullopt when the request may go ahead.
std::optional<HttpResponse> Admit(const AccessPolicy& policy, HttpRequest& request);

// The 401 reply for a request the policy refuses, or nullopt when it may go ahead; a request
// with a valid token gets request.user set to its name.
std::optional<HttpResponse> CheckAccess(const AccessPolicy& policy, HttpRequest& request);

// The 421 reply for a Host header that names neither an IP address nor one of policy.hosts, or
// nullopt. A request without a Host header (HTTP/1.0) passes.
std::optional<HttpResponse> CheckHost(const AccessPolicy& policy, const HttpRequest& request);

// The names this machine answers to: "localhost", its host name, short and long. `bind_host`
// (the --http host) is added when it is a name.
std::vector<std::string> LocalHostNames(const std::string& bind_host);

// The 415 reply for a request that changes something (any method but GET and HEAD) without
// `Content-Type: application/json`, or nullopt. A web page on another site can make a browser send
// a form or text POST to this port without asking, but not a JSON one (that needs a CORS
// preflight the API never grants), so requiring JSON keeps such pages from changing anything.
std::optional<HttpResponse> CheckJsonContentType(const HttpRequest& request);

// "127.0.0.1:5312", "[::1]:80", "::1": whether the peer is this machine.
bool IsLoopbackPeer(const std::string& peer);

}  // namespace lf::api
