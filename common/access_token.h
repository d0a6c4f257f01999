// The coordinator's access token on disk: `lorafleet up` creates it (32 random bytes from the
// OS, as hex, in a file made with mode 0600 before anything is written), the daemon and the CLI
// read it. Errors name the file and say what to do. Thread-safe (no shared state).
#pragma once

#include <string>

#include "common/status.h"

namespace lf {

// The token the file holds (surrounding whitespace dropped); an empty or unreadable file is an
// error naming it.
Result<std::string> ReadAccessToken(const std::string& path);
// Reads the file when it exists; otherwise creates it with a new token.
Result<std::string> LoadOrCreateAccessToken(const std::string& path);

}  // namespace lf
