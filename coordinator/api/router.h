// Maps (method, path) to a handler. Patterns are paths whose "{name}" segments match any one
// non-empty segment and land in HttpRequest::params ("/v1/sweeps/{id}/trials"). Build the router
// before serving: Add is not thread-safe, Dispatch is const and may run on many threads at once
// (then the handlers must be thread-safe too).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "coordinator/api/http_message.h"

namespace lf::api {

using Handler = std::function<HttpResponse(const HttpRequest&)>;

class Router {
 public:
  // The same method and pattern twice, or a pattern not starting with '/', is a bug (LF_CHECK).
  void Add(std::string method, std::string pattern, Handler handler);

  // Calls the matching handler. Where two patterns match, the one whose first differing segment
  // is literal wins ("/v1/sweeps/compare" over "/v1/sweeps/{id}"). An unknown path is a 404 JSON
  // error; a known path with another method is a 405 with an Allow header. A handler that throws
  // becomes a 500 JSON error (and is logged), so one bad request never takes the server down.
  HttpResponse Dispatch(HttpRequest request) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;  // "{id}" kept as written; IsParam tells them apart
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace lf::api
