// The pure half of remote.h: where the coordinator is, id shapes, and error messages. The HTTP
// calls live in remote_client.cpp so unit tests need no sockets.
#include "cli/commands/remote.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "common/access_token.h"
#include "common/file_util.h"
#include "common/ids.h"

namespace lf::cli {
namespace {

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string ResolveHome(const std::optional<std::string>& home_flag) {
  std::string home = home_flag.value_or(Env("LORAFLEET_HOME").value_or(kDefaultHome));
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(home, ec);
  if (ec) return home;
  return abs.lexically_normal().string();
}

std::string CoordinatorFilePath(const std::string& home) {
  return (std::filesystem::path(home) / "coordinator.json").string();
}

Result<CoordinatorFile> ReadCoordinatorFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("no coordinator file at " + path);
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  LF_ASSIGN_OR_RETURN(Json doc, ParseJson(text, path));
  JsonField root(doc, FieldPath());
  auto in_file = [&](const Status& st) { return st.WithContext(path); };
  if (!root.IsObject()) return in_file(InvalidArgument("expected a JSON object"));
  CoordinatorFile file;
  auto http = root.StringAt("http");
  if (!http.ok()) return in_file(http.status());
  file.http = *http;
  auto workers = root.StringOr("workers", "");
  if (!workers.ok()) return in_file(workers.status());
  file.workers = *workers;
  auto pid = root.IntOr("pid", 0, {.min = 0});
  if (!pid.ok()) return in_file(pid.status());
  file.pid = *pid;
  return file;
}

Result<std::string> NormalizeUrl(std::string_view url) {
  std::string out(url);
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (out.empty()) return InvalidArgument("the coordinator URL is empty");
  const size_t scheme = out.find("://");
  if (scheme == std::string::npos) {
    out = "http://" + out;
  } else if (Lower(out.substr(0, scheme)) != "http") {
    return InvalidArgument("coordinator URL '" + std::string(url) +
                           "' must start with http:// (e.g. http://127.0.0.1:7070)");
  }
  return out;
}

Result<Endpoint> ResolveEndpoint(const std::optional<std::string>& url_flag,
                                 const std::optional<std::string>& home_flag) {
  Endpoint ep;
  ep.home = ResolveHome(home_flag);
  std::string url;
  if (url_flag) {
    url = *url_flag;
    ep.source = "--url";
  } else if (auto env = Env("LORAFLEET_URL")) {
    url = *env;
    ep.source = "LORAFLEET_URL";
  } else {
    const std::string path = CoordinatorFilePath(ep.home);
    Result<CoordinatorFile> file = ReadCoordinatorFile(path);
    if (file.ok()) {
      url = file->http;
      ep.source = path;
    } else if (file.status().code() == StatusCode::kNotFound) {
      url = kDefaultUrl;
      ep.source = "default";
    } else {
      return file.status();
    }
  }
  Result<std::string> normalized = NormalizeUrl(url);
  if (!normalized.ok()) return normalized.status().WithContext(ep.source);
  ep.url = *normalized;
  return ep;
}

IdKind ClassifyId(std::string_view id) {
  if (ValidateSweepId(id).ok()) return IdKind::kSweep;
  if (ParseTrialId(id).ok()) return IdKind::kTrial;
  return IdKind::kInvalid;
}

Status CheckId(std::string_view id) {
  if (ClassifyId(id) != IdKind::kInvalid) return Status::Ok();
  return InvalidArgument("'" + std::string(id) +
                         "' is neither a sweep id (26 characters, e.g. 01jd8x5k2c0000000000000000) "
                         "nor a trial id (a sweep id, '-', 6 digits); `lorafleet sweeps` lists "
                         "them");
}

Status StatusFromReply(int http_status, std::string_view body, std::string_view method,
                       std::string_view target) {
  std::string message;
  Result<Json> doc = ParseJson(body, "reply");
  if (doc.ok()) {
    const Json& error = doc->is_object() && doc->contains("error") ? (*doc)["error"] : Json();
    if (error.is_object() && error.contains("message") && error["message"].is_string()) {
      message = error["message"].get<std::string>();
      if (error.contains("field") && error["field"].is_string()) {
        const std::string field = error["field"].get<std::string>();
        if (!field.empty() && message.rfind(field, 0) != 0) message = field + ": " + message;
      }
    } else if (error.is_string()) {
      message = error.get<std::string>();
    }
  }
  if (message.empty()) {
    std::string shown(body.substr(0, 200));
    while (!shown.empty() && std::isspace(static_cast<unsigned char>(shown.back())))
      shown.pop_back();
    message = "HTTP " + std::to_string(http_status) + " from " + std::string(method) + " " +
              std::string(target) + (shown.empty() ? "" : ": " + shown);
  }
  switch (http_status) {
    case 400:
    case 422:
      return InvalidArgument(message);
    case 404:
      return NotFound(message);
    case 409:
      return Conflict(message);
    case 401:
    case 403:  // the access token is missing or wrong: nothing to retry until it is fixed
      return FailedPrecondition(message);
    case 503:
      return Unavailable(message);
    default:
      return Internal(message);
  }
}

Status StatusFromTransport(const Status& transport, std::string_view url) {
  const std::string& message = transport.message();
  const std::string lower = Lower(message);
  if (transport.code() == StatusCode::kUnavailable &&
      lower.find("cannot reach") != std::string::npos) {
    // "cannot reach http://...: connection refused" -> "connection refused".
    const size_t colon = message.find(": ", lower.find("cannot reach") + 13);
    const std::string why = lower.find("refused") != std::string::npos ? "connection refused"
                            : colon != std::string::npos               ? message.substr(colon + 2)
                                                                       : message;
    return Unavailable("the coordinator is not running at " + std::string(url) + " (" + why +
                       "); start it with `lorafleet up`");
  }
  if (lower.find("no reply within") != std::string::npos ||
      transport.code() == StatusCode::kDeadlineExceeded) {
    return DeadlineExceeded("the coordinator at " + std::string(url) + " did not answer in time (" +
                            message + ")");
  }
  return transport;
}

std::string TokenFilePath(const std::string& home) {
  return (std::filesystem::path(home) / "token").string();
}

Result<std::string> ResolveToken(const std::string& home) {
  if (const char* env = std::getenv("LORAFLEET_TOKEN"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  const std::string path = TokenFilePath(home);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::string();
  return ReadAccessToken(path);
}

Result<Coordinator> ConnectFromFlags(const RemoteFlags& flags) {
  LF_ASSIGN_OR_RETURN(Endpoint ep, ResolveEndpoint(flags.url, flags.home));
  LF_ASSIGN_OR_RETURN(std::string token, ResolveToken(ep.home));
  return Coordinator(ep.url, std::chrono::milliseconds(30000), std::move(token));
}

void PrintJson(const Json& doc) {
  std::cout << doc.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
}

int ReportFailure(const std::string& command, const Status& status) {
  std::cerr << "lorafleet " << command << ": " << status.message() << "\n";
  return 1;
}

int ReportError(const std::string& command, const Status& status) {
  std::cerr << "lorafleet " << command << ": " << status.message() << "\n";
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace lf::cli
