#include "coordinator/api/access.h"

#include <cctype>

namespace lf::api {
namespace {

// Compares without stopping at the first difference, so timing does not reveal a prefix.
bool SameToken(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

bool IsLoopbackPeer(const std::string& peer) {
  return peer.rfind("127.", 0) == 0 || peer.rfind("[::1]", 0) == 0 || peer == "::1" ||
         peer.rfind("::ffff:127.", 0) == 0 || peer.rfind("[::ffff:127.", 0) == 0;
}

std::optional<HttpResponse> CheckAccess(const AccessPolicy& policy, const HttpRequest& request) {
  if (policy.token.empty()) return std::nullopt;
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (read && (policy.open_reads || IsLoopbackPeer(request.peer))) return std::nullopt;
  auto it = request.headers.find("authorization");
  const std::string prefix = "Bearer ";
  if (it != request.headers.end() && it->second.rfind(prefix, 0) == 0 &&
      SameToken(it->second.substr(prefix.size()), policy.token)) {
    return std::nullopt;
  }
  HttpResponse response = ErrorResponse(
      401, std::string(it == request.headers.end() ? "this request needs" : "wrong token: this "
                                                                            "request needs") +
               " the coordinator's access token: send 'Authorization: Bearer <token>' (the "
               "lorafleet CLI reads it from <home>/token, which `lorafleet up` writes)");
  response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"lorafleet\"");
  return response;
}

std::optional<HttpResponse> CheckJsonContentType(const HttpRequest& request) {
  if (request.method == "GET" || request.method == "HEAD") return std::nullopt;
  auto it = request.headers.find("content-type");
  std::string media = it == request.headers.end() ? "" : it->second.substr(0, it->second.find(';'));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (media == "application/json") return std::nullopt;
  return ErrorResponse(415, request.method + " " + request.path +
                                " needs 'Content-Type: application/json'" +
                                (it == request.headers.end()
                                     ? std::string(" (none was sent)")
                                     : "; got '" + it->second + "'"));
}

}  // namespace lf::api
