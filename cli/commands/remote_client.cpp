// Coordinator: remote.h's calls over common/http_client.h.
#include "cli/commands/remote.h"
#include "common/http_client.h"

namespace lf::cli {

Result<std::string> Coordinator::Call(std::string_view method, std::string_view target,
                                      std::string_view body) const {
  Result<HttpReply> reply = HttpCall(url_, method, target, body, "application/json",
                                     HttpClientOptions{.timeout = timeout_, .bearer_token = token_});
  if (!reply.ok()) return StatusFromTransport(reply.status(), url_);
  if (reply->status < 200 || reply->status >= 300) {
    return StatusFromReply(reply->status, reply->body, method, target);
  }
  return std::move(reply->body);
}

Result<Json> Coordinator::Get(std::string_view target) const {
  LF_ASSIGN_OR_RETURN(std::string body, Call("GET", target, {}));
  Result<Json> doc = ParseJson(body, std::string("the reply to GET ") + std::string(target));
  return doc;
}

Result<Json> Coordinator::Post(std::string_view target, const Json& body) const {
  LF_ASSIGN_OR_RETURN(std::string reply, Call("POST", target, body.dump()));
  if (reply.empty()) return Json::object();
  return ParseJson(reply, std::string("the reply to POST ") + std::string(target));
}

Result<std::string> Coordinator::GetBytes(std::string_view target) const {
  return Call("GET", target, {});
}

}  // namespace lf::cli
