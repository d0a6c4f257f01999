// Whole-file reads and crash-safe writes. WriteFileAtomically and AtomicFileWriter write a
// temporary file beside the target, fsync it, rename it over the target and fsync the directory,
// so a reader sees either the old or the new content, never a torn file. The free functions are
// thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace lf {

// A file larger than `max_bytes` is an InvalidArgument naming it and both sizes, refused before
// it is read: a config, tokenizer or result file from outside cannot make a process take all
// memory. Each reader passes the limit its format needs.
Result<std::string> ReadFileToString(const std::string& path,
                                     size_t max_bytes = size_t{1} << 30);
// The limits readers pass: JSON settings files (config.json, adapter_config.json, state.json,
// result.json, a safetensors index, a chat template) and tokenizer files (tokenizer.json,
// vocab.json, merges.txt: Gemma 3's tokenizer.json is 33 MB).
inline constexpr size_t kMaxSettingsFileBytes = size_t{16} << 20;
inline constexpr size_t kMaxTokenizerFileBytes = size_t{512} << 20;
// `mode`: the file's permissions, set before anything is written (0600 for secrets).
Status WriteFileAtomically(const std::string& path, std::string_view contents,
                           unsigned mode = 0644);
// Creates the directory and its parents (like `mkdir -p`); ok when it already exists.
Status CreateDirectories(const std::string& path);
// CreateDirectories, then `path` itself made private to its owner (0700) even when it existed:
// for what holds a fleet's store, tokens, trial outputs and logs.
Status CreatePrivateDirectory(const std::string& path);

// Describes a failed system call on `path` as a Status whose code follows errno (ENOENT is
// NotFound, ENOSPC ResourceExhausted, EACCES FailedPrecondition, ...): "<what> <path>: <strerror>".
Status StatusFromErrno(const std::string& what, const std::string& path, int err);

// Writes a file piece by piece with WriteFileAtomically's guarantee (temporary file beside the
// target, fsync, rename, fsync of the directory), for outputs too large to hold in memory whole.
// Nothing is visible at `path` until Commit succeeds; destroying the writer before that removes
// the temporary file. Move-only; not thread-safe.
class AtomicFileWriter {
 public:
  static Result<AtomicFileWriter> Create(const std::string& path, unsigned mode = 0644);

  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  Status Append(std::string_view data);
  // Flushes, syncs and renames the temporary file over `path`. The writer is closed afterwards,
  // whether or not this succeeds.
  Status Commit();

  const std::string& path() const { return path_; }
  size_t bytes_written() const { return bytes_written_; }

 private:
  AtomicFileWriter(std::string path, std::string tmp_path, int fd);
  Status Flush();
  void Discard();

  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
  std::string buffer_;  // small appends are batched so many tiny tensors cost few syscalls
  size_t bytes_written_ = 0;
};

}  // namespace lf
