// The request and response values that route handlers see, and the helpers that build the API's
// JSON replies. Every error the API returns has one shape:
//   {"error": {"status": 400, "message": "...", "field": "sweep.space.lora.r[2]"}}
// ("field" only when the error is about one field). Values, no shared state: thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf::api {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ... as sent
  std::string path;                            // "/v1/sweeps/abc": percent-decoded, no query
  std::map<std::string, std::string> query;    // ?state=running&limit=10, percent-decoded
  std::map<std::string, std::string> headers;  // lower-case names; repeats joined with ", "
  std::string body;                            // bytes as received (may be binary)
  std::map<std::string, std::string> params;   // filled by the Router from "{name}" segments
  std::string peer;                            // "127.0.0.1:53412", for logs and audit
  // Whom the request's access token names (api/access.h), set by the server's admission check
  // before the body is read; empty when it carried none. The audit log's actor comes from it.
  std::string user;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra headers (Allow, Content-Disposition); Content-Type and Content-Length are set for you.
  std::vector<std::pair<std::string, std::string>> headers;
};

// `body` serialised compactly; invalid UTF-8 in strings is replaced rather than thrown on.
HttpResponse JsonResponse(int status, const Json& body);
HttpResponse ErrorResponse(int status, std::string_view message, std::string_view field = "");
// The HTTP status comes from HttpStatusFor(status.code()); the message is the Status's message;
// "field" is `field`, else the Status's own field().
HttpResponse ErrorResponse(const Status& status, std::string_view field = "");

// InvalidArgument 400, NotFound 404, AlreadyExists/Conflict/FailedPrecondition 409,
// ResourceExhausted 429 (a quota), Unimplemented 501, Unavailable 503, anything else 500.
int HttpStatusFor(StatusCode code);

// Splits an origin-form target ("/v1/x%20y?a=1&b=c+d") into a decoded path and query. A target
// that is not origin-form, a bad %-escape, or an encoded '/' in the path is InvalidArgument.
Status ParseRequestTarget(std::string_view target, HttpRequest& request);

// Decodes %XX escapes (and '+' as a space when `plus_is_space`, as in query strings).
Result<std::string> PercentDecode(std::string_view text, bool plus_is_space);

}  // namespace lf::api
