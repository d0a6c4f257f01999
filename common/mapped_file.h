// A read-only memory map of a whole file, so large files (base model weights) are read without
// copying them into the heap: pages are loaded on first touch and shared with the page cache.
// MappedFile owns the mapping (move-only) and unmaps it on destruction. Any number of threads may
// read bytes() at once. The file must not be truncated while mapped (touching a page past the new
// end raises SIGBUS); lorafleet replaces files by rename, which leaves existing mappings intact.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "common/status.h"

namespace lf {

class MappedFile {
 public:
  // Maps `path` with PROT_READ and MAP_PRIVATE. An empty file gives an empty mapping (mmap
  // refuses length 0). Errors: NotFound, InvalidArgument (not a regular file), others by errno.
  static Result<MappedFile> Open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const std::byte* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  void Unmap();

  std::string path_;
  const std::byte* data_ = nullptr;  // null when the file is empty
  size_t size_ = 0;
};

}  // namespace lf
