// The coordinator's access tokens on disk: `lorafleet up` creates the file with one token (32
// random bytes from the OS, as hex, in a file made with mode 0600 before anything is written);
// the daemon and the CLI read it. An operator may add a line per user, `TOKEN NAME`: the name is
// who that token's requests act as (the audit log's actor, the sweep's owner, its quotas). The
// first line's token is the operator's; without a name it is called "operator".
// Errors name the file and line and say what to do. Thread-safe (no shared state).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace lf {

struct NamedToken {
  std::string token;
  std::string name;  // [A-Za-z0-9._-], at most 64 characters
};
inline constexpr const char* kOperatorName = "operator";

// The file's first token (the operator's, what the CLI sends); an empty or unreadable file is an
// error naming it.
Result<std::string> ReadAccessToken(const std::string& path);
// Every line's token and name; the same token twice, or a token or name with characters it may
// not have, is an error naming the line.
Result<std::vector<NamedToken>> ReadAccessTokens(const std::string& path);
// Reads the file when it exists; otherwise creates it with a new token.
Result<std::string> LoadOrCreateAccessToken(const std::string& path);

}  // namespace lf
