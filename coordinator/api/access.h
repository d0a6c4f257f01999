// Who may call the API. With an access token configured, every request that changes something
// (any method but GET and HEAD) must carry `Authorization: Bearer <token>`; reads are open to
// clients on this machine (loopback peers) and, with `open_reads`, to any peer that reaches the
// port (a dashboard or a Prometheus server elsewhere), otherwise they need the token too.
// Without a token everything is open, as for a daemon started by hand on a private machine.
// Values, thread-safe.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "coordinator/api/http_message.h"

namespace lf::api {

struct AccessPolicy {
  std::string token;        // empty: no checks
  bool open_reads = false;  // GET/HEAD from any peer without the token
};

// The 401 reply for a request the policy refuses, or nullopt when it may go ahead.
std::optional<HttpResponse> CheckAccess(const AccessPolicy& policy, const HttpRequest& request);

// The 415 reply for a request that changes something (any method but GET and HEAD) without
// `Content-Type: application/json`, or nullopt. A web page on another site can make a browser send
// a form or text POST to this port without asking, but not a JSON one (that needs a CORS
// preflight the API never grants), so requiring JSON keeps such pages from changing anything.
std::optional<HttpResponse> CheckJsonContentType(const HttpRequest& request);

// "127.0.0.1:5312", "[::1]:80", "::1": whether the peer is this machine.
bool IsLoopbackPeer(const std::string& peer);

}  // namespace lf::api
