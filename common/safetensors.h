// Reads and writes the safetensors format exactly as Hugging Face's reference crate does: base
// model weights and the adapters workers export. A File is immutable once opened, so any number of
// threads may read it; copies share one buffer (a mapping or a string), and TensorView data stays
// valid while any copy lives. A Writer is not thread-safe; it copies what Add gets and borrows what
// AddView gets. docs/formats/safetensors.md lists what the reader rejects and why.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace lf::safetensors {

// A header's "__metadata__": free-form strings. Name the type when constructing a Writer with
// one entry (Writer(Metadata{{"k", "v"}})): a bare {{"k", "v"}} is ambiguous with the copy
// constructor.
using Metadata = std::map<std::string, std::string>;

// The reference crate refuses larger headers; so do we, and the Writer never produces one.
inline constexpr size_t kMaxHeaderSize = 100'000'000;

enum class DType {
  kF64,
  kF32,
  kF16,
  kBF16,
  kI64,
  kI32,
  kI16,
  kI8,
  kU64,
  kU32,
  kU16,
  kU8,
  kBool,
  kF8E4M3,
  kF8E5M2
};
inline constexpr std::array<DType, 15> kAllDTypes = {
    DType::kF64, DType::kF32, DType::kF16,  DType::kBF16,   DType::kI64,
    DType::kI32, DType::kI16, DType::kI8,   DType::kU64,    DType::kU32,
    DType::kU16, DType::kU8,  DType::kBool, DType::kF8E4M3, DType::kF8E5M2};

std::string_view DTypeName(DType dtype);  // "F32", as written in headers
// Case-sensitive, like the reference; the error lists the known names.
Result<DType> ParseDType(std::string_view name);
size_t DTypeSize(DType dtype);  // bytes per element
// Bytes a tensor of `dtype` and `shape` occupies. InvalidArgument for a negative dimension or when
// the element count or byte size overflows (neither fits int64/size_t).
Result<size_t> TensorByteSize(DType dtype, std::span<const int64_t> shape);

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // [] for a scalar
  // Little-endian, row-major. Not necessarily aligned to the dtype (files by other writers, or
  // FromBytes on a string), so copy with memcpy rather than casting the pointer.
  std::span<const std::byte> data;

  int64_t numel() const;  // 1 for a scalar, 0 when any dimension is 0
};

class File {
 public:
  // Memory-maps `path` (read-only); tensor data is never copied.
  static Result<File> Open(const std::string& path);
  // Parses bytes held in memory (adapters come from the store as strings); takes the string over
  // without copying it. `source_name` names the bytes in error messages.
  static Result<File> FromBytes(std::string bytes, std::string source_name = "<memory>");

  const Metadata& metadata() const;
  const std::vector<TensorView>& tensors() const;  // sorted by name
  // NotFound naming the tensor and the file when absent.
  Result<TensorView> Get(std::string_view name) const;
  bool Contains(std::string_view name) const;

  const std::string& source() const;  // the path, or FromBytes's source_name
  size_t data_offset() const;         // where the data buffer starts: 8 + header length
  size_t file_size() const;
  std::span<const std::byte> bytes() const;  // the whole file

 private:
  struct State;
  explicit File(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  static Result<File> Parse(std::shared_ptr<State> state);
  const TensorView* Find(std::string_view name) const;

  std::shared_ptr<const State> state_;  // shared by copies, so copying a File is cheap
};

class Writer {
 public:
  // Hugging Face's save_pretrained writes {"format": "pt"}, and some loaders check for it.
  // An empty map writes no "__metadata__" entry at all.
  explicit Writer(Metadata metadata = {{"format", "pt"}});

  // Copies `data`. InvalidArgument for an empty, duplicate, non-UTF-8 or "__metadata__" name, a
  // negative dimension, or data whose size is not numel * DTypeSize(dtype).
  Status Add(std::string name, DType dtype, std::vector<int64_t> shape,
             std::span<const std::byte> data);
  // Same checks, but only borrows `data`: it must stay alive and unchanged until the last
  // Serialize or WriteFile returns. For large tensors that already sit in memory.
  Status AddView(std::string name, DType dtype, std::vector<int64_t> shape,
                 std::span<const std::byte> data);

  // The whole file in one string, byte-for-byte what the reference crate writes for the same
  // tensors and metadata (metadata keys in sorted order).
  Result<std::string> Serialize() const;
  // Streams the file to a temporary beside `path`, fsyncs it and renames it over `path`; the
  // tensors are written from where they are, never gathered into one buffer.
  Status WriteFile(const std::string& path) const;

  size_t tensor_count() const { return entries_.size(); }
  // 8 + header + data: the size Serialize and WriteFile produce.
  Result<size_t> FileSize() const;

 private:
  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    std::span<const std::byte> data;
    // Set by Add; shared so that copies of the Writer keep `data` valid.
    std::shared_ptr<const std::vector<std::byte>> owned;
  };
  struct Layout {
    std::string prefix;  // 8-byte length + padded JSON header
    std::vector<const Entry*> order;
    size_t data_size = 0;
  };
  Status AddEntry(std::string name, DType dtype, std::vector<int64_t> shape,
                  std::span<const std::byte> data, bool copy);
  Result<Layout> Prepare() const;

  Metadata metadata_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace lf::safetensors
