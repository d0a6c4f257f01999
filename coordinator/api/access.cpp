#include "coordinator/api/access.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
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

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<HttpResponse> CheckAccess(const AccessPolicy& policy, HttpRequest& request) {
  if (policy.tokens.empty()) return std::nullopt;
  auto it = request.headers.find("authorization");
  const std::string prefix = "Bearer ";
  if (it != request.headers.end() && it->second.rfind(prefix, 0) == 0) {
    const std::string presented = it->second.substr(prefix.size());
    const NamedToken* match = nullptr;
    for (const NamedToken& t : policy.tokens) {  // every one compared: timing names none
      if (SameToken(presented, t.token)) match = &t;
    }
    if (match != nullptr) {
      request.user = match->name;
      return std::nullopt;
    }
  }
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (read && (policy.open_reads || IsLoopbackPeer(request.peer))) return std::nullopt;
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

std::optional<HttpResponse> CheckHost(const AccessPolicy& policy, const HttpRequest& request) {
  auto it = request.headers.find("host");
  if (policy.hosts.empty() || it == request.headers.end()) return std::nullopt;
  // "name", "name:port", "1.2.3.4:port", "[::1]:port"
  std::string host = it->second;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') == std::string::npos ? 0 : host.find(']') - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (!ec) return std::nullopt;  // an IP literal cannot be rebound
  host = Lower(host);
  if (!host.empty() && host.back() == '.') host.pop_back();
  for (const std::string& name : policy.hosts) {
    if (Lower(name) == host) return std::nullopt;
  }
  return ErrorResponse(421, "this coordinator does not answer to the host name '" + it->second +
                                "' (Host header); use its address or one of the names it was "
                                "started with (lorafleetd --allowed-host NAME adds one)",
                       "host");
}

std::vector<std::string> LocalHostNames(const std::string& bind_host) {
  std::vector<std::string> names = {"localhost"};
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof(buffer) - 1) == 0 && buffer[0] != '\0') {
    const std::string full = buffer;
    names.push_back(full);
    if (full.find('.') != std::string::npos) names.push_back(full.substr(0, full.find('.')));
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(bind_host, ec);
  if (ec && !bind_host.empty()) names.push_back(bind_host);
  return names;
}

std::optional<HttpResponse> Admit(const AccessPolicy& policy, HttpRequest& request) {
  if (auto refused = CheckHost(policy, request)) return refused;
  if (auto refused = CheckAccess(policy, request)) return refused;
  return CheckJsonContentType(request);
}

}  // namespace lf::api
