// How the CLI reaches the coordinator: where its home folder is, which URL to call (--url, then
// $LORAFLEET_URL, then <home>/coordinator.json, then http://127.0.0.1:7070), calling the JSON API
// and turning error replies and refused connections into messages that say what to do.
// The resolution and message functions are pure apart from reading the environment and the
// coordinator file; Coordinator is used by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf::cli {

inline constexpr const char* kDefaultUrl = "http://127.0.0.1:7070";
inline constexpr const char* kDefaultWorkerEndpoint = "tcp://127.0.0.1:7071";
inline constexpr const char* kDefaultHome = ".lorafleet";

// --home, then $LORAFLEET_HOME, then ./.lorafleet; made absolute against the current directory.
std::string ResolveHome(const std::optional<std::string>& home_flag);

// What the daemon writes once it listens: {"http": ..., "workers": ..., "pid": N}.
struct CoordinatorFile {
  std::string http;
  std::string workers;
  int64_t pid = 0;
};
std::string CoordinatorFilePath(const std::string& home);
// NotFound when the file does not exist; InvalidArgument naming the file when it is malformed.
Result<CoordinatorFile> ReadCoordinatorFile(const std::string& path);

struct Endpoint {
  std::string url;     // normalised: a scheme, no trailing '/'
  std::string home;    // absolute
  std::string source;  // where the URL came from: "--url", "LORAFLEET_URL", the file, "default"
};
// A malformed coordinator file is an error (it names the file); a missing one is not.
Result<Endpoint> ResolveEndpoint(const std::optional<std::string>& url_flag,
                                 const std::optional<std::string>& home_flag);
// "127.0.0.1:7070/" -> "http://127.0.0.1:7070"; an empty URL or another scheme is an error.
Result<std::string> NormalizeUrl(std::string_view url);

// A sweep id is 26 characters of lowercase Crockford base32; a trial id is "<sweep id>-NNNNNN".
enum class IdKind { kSweep, kTrial, kInvalid };
IdKind ClassifyId(std::string_view id);
// InvalidArgument (a usage error) for an id that is neither, saying what ids look like.
Status CheckId(std::string_view id);

// The Status for a non-2xx reply. The API's {"error": {"message", "field"}} becomes
// "field: message"; other bodies are quoted (shortened). 404 is NotFound, 409 Conflict,
// 400/422 InvalidArgument, 401/403 FailedPrecondition, 503 Unavailable, anything else Internal.
Status StatusFromReply(int http_status, std::string_view body, std::string_view method,
                       std::string_view target);
// The Status for a call that got no reply: a refused connection says how to start the daemon.
Status StatusFromTransport(const Status& transport, std::string_view url);

// Where `lorafleet up` keeps the coordinator's access token: <home>/token (mode 0600).
std::string TokenFilePath(const std::string& home);
// The token to send: $LORAFLEET_TOKEN, else <home>/token when it exists; empty when neither.
// A token file that cannot be read is an error naming it.
Result<std::string> ResolveToken(const std::string& home);

// The coordinator's JSON API over HTTP. Every reply body is parsed as JSON (GetBytes excepted).
// With a token, every request carries it as a bearer token.
class Coordinator {
 public:
  explicit Coordinator(std::string url,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(30000),
                       std::string token = "")
      : url_(std::move(url)), timeout_(timeout), token_(std::move(token)) {}

  const std::string& url() const { return url_; }
  const std::string& token() const { return token_; }
  Result<Json> Get(std::string_view target) const;
  Result<Json> Post(std::string_view target, const Json& body = Json::object()) const;
  Result<std::string> GetBytes(std::string_view target) const;

 private:
  Result<std::string> Call(std::string_view method, std::string_view target,
                           std::string_view body) const;
  std::string url_;
  std::chrono::milliseconds timeout_;
  std::string token_;
};

// What every command that calls the coordinator takes: --url URL, --home DIR, --json
// (declared on a command's app by AddRemoteFlags, command_flags.h).
struct RemoteFlags {
  std::optional<std::string> url;
  std::optional<std::string> home;
  bool json = false;
};
// The coordinator that --url / --home (then the environment and the coordinator file) name.
Result<Coordinator> ConnectFromFlags(const RemoteFlags& flags);
// Pretty JSON on stdout (invalid UTF-8 replaced, never thrown on).
void PrintJson(const Json& doc);

// Prints "lorafleet <command>: <message>" to stderr and returns 1: for failures reported by the
// coordinator or in reaching it (usage errors go through ReportError, exit code 2).
int ReportFailure(const std::string& command, const Status& status);
// Prints "lorafleet <command>: <message>" to stderr; returns the exit code: 2 for bad arguments
// (InvalidArgument: a job file's field, an id that is not one), 1 for everything else. Flags
// themselves are checked by the command's app (command_flags.h) before this is reached.
int ReportError(const std::string& command, const Status& status);

}  // namespace lf::cli
