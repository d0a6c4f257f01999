#include "common/access_token.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "common/file_util.h"

namespace lf {
namespace {

std::string Trim(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

Result<std::vector<NamedToken>> ReadAccessTokens(const std::string& path) {
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 1 << 20));
  std::vector<NamedToken> tokens;
  std::set<std::string> seen;
  size_t start = 0;
  for (int number = 1; start < text.size(); ++number) {
    const size_t end = std::min(text.find('\n', start), text.size());
    const std::string line = Trim(text.substr(start, end - start));
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(number);
    const size_t space = line.find_first_of(" \t");
    NamedToken t{.token = line.substr(0, space),
                 .name = space == std::string::npos ? "" : Trim(line.substr(space))};
    for (char c : t.token) {
      if (c < 0x21 || c > 0x7e) {
        return InvalidArgument(where + ": an access token may hold only printable characters "
                               "without spaces; write `TOKEN NAME`, or delete the file and run "
                               "`lorafleet up` again");
      }
    }
    if (t.name.empty()) {
      if (!tokens.empty()) {
        return InvalidArgument(where + ": only the first token may go without a name; write "
                               "`TOKEN NAME` (NAME: who uses it)");
      }
      t.name = kOperatorName;
    } else if (!ValidName(t.name)) {
      return InvalidArgument(where + ": the name '" + t.name +
                             "' may hold only letters, digits, '.', '_' and '-' (at most 64)");
    }
    if (!seen.insert(t.token).second) {
      return InvalidArgument(where + ": this token is already on an earlier line; give each "
                             "user a token of their own (`openssl rand -hex 32`)");
    }
    tokens.push_back(std::move(t));
  }
  if (tokens.empty()) {
    return InvalidArgument(path + ": the access token file is empty; delete it and run "
                           "`lorafleet up` again to make a new one");
  }
  return tokens;
}

Result<std::string> ReadAccessToken(const std::string& path) {
  LF_ASSIGN_OR_RETURN(std::vector<NamedToken> tokens, ReadAccessTokens(path));
  return tokens.front().token;
}

Result<std::string> LoadOrCreateAccessToken(const std::string& path) {
  if (std::filesystem::exists(path)) return ReadAccessToken(path);
  std::random_device random;  // the OS's entropy source (/dev/urandom)
  static const char kHex[] = "0123456789abcdef";
  std::string token;
  for (int i = 0; i < 32; ++i) {
    const unsigned byte = random() & 0xff;
    token += kHex[byte >> 4];
    token += kHex[byte & 0xf];
  }
  // Created 0600 before anything is written, so the token is never readable by others.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return Internal("creating the access token file " + path + ": " + std::strerror(errno));
  }
  const std::string line = token + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!written || !synced) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return Internal("writing the access token file " + path + ": " + std::strerror(errno));
  }
  return token;
}

}  // namespace lf
