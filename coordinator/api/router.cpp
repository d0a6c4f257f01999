#include "coordinator/api/router.h"

#include <exception>
#include <set>
#include <string_view>

#include "common/logging.h"

namespace lf::api {
namespace {

// "/a/b/" and "/a/b" are the same resource; "/" has no segments.
std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t start = 1;
  while (start <= path.size() && path.size() > 1) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    segments.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool Matches(const std::vector<std::string>& pattern, const std::vector<std::string>& path) {
  if (pattern.size() != path.size()) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    if (IsParam(pattern[i]) ? path[i].empty() : pattern[i] != path[i]) return false;
  }
  return true;
}

// True when `a` is more specific than `b`: at the first segment where one is literal and the
// other a parameter, the literal wins.
bool MoreSpecific(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (IsParam(a[i]) != IsParam(b[i])) return !IsParam(a[i]);
  }
  return false;
}

}  // namespace

void Router::Add(std::string method, std::string pattern, Handler handler) {
  LF_CHECK_MSG(!pattern.empty() && pattern.front() == '/', "route pattern must start with '/'");
  LF_CHECK_MSG(handler != nullptr, "route " + method + " " + pattern + " has no handler");
  std::vector<std::string> segments = SplitPath(pattern);
  for (const Route& route : routes_) {
    LF_CHECK_MSG(route.method != method || route.segments != segments,
                 "route " + method + " " + pattern + " is registered twice");
  }
  routes_.push_back(
      {std::move(method), std::move(pattern), std::move(segments), std::move(handler)});
}

HttpResponse Router::Dispatch(HttpRequest request) const {
  std::vector<std::string> segments = SplitPath(request.path);
  const Route* best = nullptr;
  std::set<std::string> allowed;
  for (const Route& route : routes_) {
    if (!Matches(route.segments, segments)) continue;
    allowed.insert(route.method);
    if (route.method != request.method) continue;
    if (best == nullptr || MoreSpecific(route.segments, best->segments)) best = &route;
  }
  if (best == nullptr && allowed.empty()) {
    return ErrorResponse(404, "no such endpoint: " + request.method + " " + request.path);
  }
  if (best == nullptr) {
    std::string allow;
    for (const std::string& method : allowed) allow += (allow.empty() ? "" : ", ") + method;
    HttpResponse response = ErrorResponse(
        405, request.method + " is not allowed on " + request.path + "; allowed: " + allow);
    response.headers.emplace_back("Allow", allow);
    return response;
  }
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& name = best->segments[i];
    if (IsParam(name)) request.params[name.substr(1, name.size() - 2)] = segments[i];
  }
  try {
    return best->handler(request);
  } catch (const std::exception& e) {
    LF_LOG_ERROR("{} {} (route {}) threw: {}", request.method, request.path, best->pattern,
                 e.what());
    return ErrorResponse(500, "internal error while handling " + request.method + " " +
                                  request.path + ": " + e.what() +
                                  "; the coordinator's log has details");
  } catch (...) {
    LF_LOG_ERROR("{} {} (route {}) threw a non-standard exception", request.method, request.path,
                 best->pattern);
    return ErrorResponse(500, "internal error while handling " + request.method + " " +
                                  request.path + "; the coordinator's log has details");
  }
}

}  // namespace lf::api
