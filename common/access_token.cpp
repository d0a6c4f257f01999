#include "common/access_token.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "common/file_util.h"

namespace lf {
namespace {

std::string Trim(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

Result<std::string> ReadAccessToken(const std::string& path) {
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  std::string token = Trim(text);
  if (token.empty()) {
    return InvalidArgument(path + ": the access token file is empty; delete it and run "
                           "`lorafleet up` again to make a new one");
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return InvalidArgument(path + ": the access token may hold only printable characters "
                             "without spaces; delete the file and run `lorafleet up` again");
    }
  }
  return token;
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
