#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

namespace lf {
namespace {

constexpr size_t kAtomicWriterBufferSize = 1 << 20;

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return StatusFromErrno("writing", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

Status StatusFromErrno(const std::string& what, const std::string& path, int err) {
  std::string msg = what + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return NotFound(msg);
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(msg);
  if (err == EACCES || err == EPERM) return FailedPrecondition(msg + " (check its permissions)");
  return Internal(msg);
}

Result<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return StatusFromErrno("opening", path, errno ? errno : ENOENT);
  const auto too_large = [&](size_t size) {
    return InvalidArgument(path + ": " + std::to_string(size) + " bytes, more than the " +
                           std::to_string(max_bytes) + " this file may have; is it the right file?");
  };
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);  // a FIFO or /proc file has none: read and see
  if (!ec && size > max_bytes) return too_large(size);
  std::string data;
  char chunk[64 << 10];
  while (in.read(chunk, sizeof(chunk)) || in.gcount() > 0) {
    data.append(chunk, static_cast<size_t>(in.gcount()));
    if (data.size() > max_bytes) return too_large(data.size());
  }
  if (in.bad()) return StatusFromErrno("reading", path, errno);
  return data;
}

Status WriteFileAtomically(const std::string& path, std::string_view contents, unsigned mode) {
  LF_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::Create(path, mode));
  LF_RETURN_IF_ERROR(writer.Append(contents));
  return writer.Commit();
}

Status CreateDirectories(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return StatusFromErrno("creating directory", path, ec.value());
  return Status::Ok();
}

Status CreatePrivateDirectory(const std::string& path) {
  LF_RETURN_IF_ERROR(CreateDirectories(path));
  std::error_code ec;
  std::filesystem::permissions(path, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  if (ec) return StatusFromErrno("making private (0700) the directory", path, ec.value());
  return Status::Ok();
}

Result<AtomicFileWriter> AtomicFileWriter::Create(const std::string& path, unsigned mode) {
  std::filesystem::path target(path);
  std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return StatusFromErrno("creating a temporary file in", dir.string(), errno);
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
    Status st = StatusFromErrno("setting permissions on", tmp, errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  return AtomicFileWriter(path, std::move(tmp), fd);
}

AtomicFileWriter::AtomicFileWriter(std::string path, std::string tmp_path, int fd)
    : path_(std::move(path)), tmp_path_(std::move(tmp_path)), fd_(fd) {}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      tmp_path_(std::move(other.tmp_path_)),
      fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      bytes_written_(other.bytes_written_) {}

AtomicFileWriter& AtomicFileWriter::operator=(AtomicFileWriter&& other) noexcept {
  if (this != &other) {
    Discard();
    path_ = std::move(other.path_);
    tmp_path_ = std::move(other.tmp_path_);
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
    bytes_written_ = other.bytes_written_;
  }
  return *this;
}

AtomicFileWriter::~AtomicFileWriter() { Discard(); }

void AtomicFileWriter::Discard() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(tmp_path_.c_str());
  fd_ = -1;
}

Status AtomicFileWriter::Flush() {
  Status st = WriteAll(fd_, buffer_, tmp_path_);
  buffer_.clear();
  return st;
}

Status AtomicFileWriter::Append(std::string_view data) {
  if (fd_ < 0) return FailedPrecondition("appending to " + path_ + ": the writer is closed");
  bytes_written_ += data.size();
  if (buffer_.size() + data.size() <= kAtomicWriterBufferSize) {
    buffer_.append(data);
    return Status::Ok();
  }
  Status st = Flush();
  // Large pieces go straight to the file rather than through the buffer.
  if (st.ok()) st = WriteAll(fd_, data, tmp_path_);
  if (!st.ok()) Discard();
  return st;
}

Status AtomicFileWriter::Commit() {
  if (fd_ < 0) return FailedPrecondition("committing " + path_ + ": the writer is closed");
  Status st = Flush();
  if (st.ok() && ::fsync(fd_) != 0) st = StatusFromErrno("syncing", tmp_path_, errno);
  int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0 && st.ok()) st = StatusFromErrno("closing", tmp_path_, errno);
  if (st.ok() && ::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    st = StatusFromErrno("renaming " + tmp_path_ + " to", path_, errno);
  }
  if (!st.ok()) {
    ::unlink(tmp_path_.c_str());
    return st;
  }
  std::filesystem::path target(path_);
  std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace lf
