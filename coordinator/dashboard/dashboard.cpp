#include "coordinator/dashboard/dashboard.h"

#include <string>

#include "coordinator/dashboard/dashboard_assets.h"

namespace lf::dashboard {
namespace {

std::string_view ContentType(std::string_view name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".js")) return "text/javascript; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

api::HttpResponse Asset(std::string_view name) {
  for (const auto& [file, bytes] : EmbeddedAssets()) {
    if (file != name) continue;
    api::HttpResponse response{.status = 200,
                               .content_type = std::string(ContentType(file)),
                               .body = std::string(bytes)};
    // The page runs only the project's own scripts and styles: no inline code, nothing fetched
    // from elsewhere, never framed by another site.
    response.headers.emplace_back("Content-Security-Policy",
                                  "default-src 'self'; img-src 'self' data:; "
                                  "frame-ancestors 'none'");
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    // Assets change with the daemon's version; a restart must not show a stale page.
    response.headers.emplace_back("Cache-Control", "no-cache");
    return response;
  }
  return api::ErrorResponse(404, "the dashboard has no file '" + std::string(name) +
                                     "'; open / for the dashboard");
}

}  // namespace

void AddDashboardRoutes(api::Router& router) {
  auto add = [&](const char* pattern, api::Handler handler) {
    router.Add("GET", pattern, std::move(handler));
  };
  add("/", [](const api::HttpRequest&) { return Asset("index.html"); });
  add("/dashboard/{file}",
      [](const api::HttpRequest& r) { return Asset(r.params.at("file")); });
}

}  // namespace lf::dashboard
