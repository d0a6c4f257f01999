#include "coordinator/api/http_message.h"

namespace lf::api {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status ParseQuery(std::string_view query, std::map<std::string, std::string>& out) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;  // "a=1&&b=2"
    size_t eq = pair.find('=');
    LF_ASSIGN_OR_RETURN(std::string key, PercentDecode(pair.substr(0, eq), true));
    std::string value;
    if (eq != std::string_view::npos) {
      LF_ASSIGN_OR_RETURN(value, PercentDecode(pair.substr(eq + 1), true));
    }
    out.insert_or_assign(std::move(key), std::move(value));  // a repeated key: the last wins
  }
  return Status::Ok();
}

}  // namespace

HttpResponse JsonResponse(int status, const Json& body) {
  HttpResponse response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return response;
}

HttpResponse ErrorResponse(int status, std::string_view message, std::string_view field) {
  Json error = {{"status", status}, {"message", message}};
  if (!field.empty()) error["field"] = field;
  return JsonResponse(status, Json{{"error", std::move(error)}});
}

HttpResponse ErrorResponse(const Status& status, std::string_view field) {
  return ErrorResponse(HttpStatusFor(status.code()), status.message(),
                       field.empty() ? std::string_view(status.field()) : field);
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kConflict:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

Result<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c != '%') {
      out += c;
    } else {
      int hi = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      int lo = hi >= 0 ? HexValue(text[i + 2]) : -1;
      if (lo < 0) {
        return InvalidArgument("bad percent-escape at offset " + std::to_string(i) + " of '" +
                               std::string(text) + "': expected %XX with two hex digits");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return out;
}

Status ParseRequestTarget(std::string_view target, HttpRequest& request) {
  if (target.empty() || target.front() != '/') {
    return InvalidArgument("request target '" + std::string(target) +
                           "' is not a path: expected one starting with '/'");
  }
  target = target.substr(0, target.find('#'));
  size_t question = target.find('?');
  std::string_view raw_path = target.substr(0, question);
  // The router splits the decoded path on '/', so an encoded one cannot be routed faithfully.
  for (size_t i = 0; i + 2 < raw_path.size(); ++i) {
    if (raw_path[i] == '%' && raw_path[i + 1] == '2' && (raw_path[i + 2] | 0x20) == 'f') {
      return InvalidArgument("request path '" + std::string(raw_path) +
                             "' contains an encoded '/' (%2F), which no route accepts");
    }
  }
  LF_ASSIGN_OR_RETURN(request.path, PercentDecode(raw_path, false));
  request.query.clear();
  if (question != std::string_view::npos) {
    LF_RETURN_IF_ERROR(ParseQuery(target.substr(question + 1), request.query));
  }
  return Status::Ok();
}

}  // namespace lf::api
