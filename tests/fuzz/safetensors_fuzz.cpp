// Fuzz target: the safetensors reader (common/safetensors.h, File::FromBytes: adapters arrive from
// workers and the store as bytes). Invariants: nothing throws; every tensor a File hands out lies
// inside the file's data, has exactly the bytes its dtype and shape need, and can be found by
// name; and the Writer, given the same tensors and metadata, writes a file the reader parses to
// the same tensors.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/safetensors.h"

namespace st = lf::safetensors;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  lf::Result<st::File> file = st::File::FromBytes(std::move(bytes), "fuzz.safetensors");
  if (!file.ok()) {
    LF_CHECK_MSG(file.status().message().starts_with("fuzz.safetensors"),
                 file.status().ToString());
    return 0;
  }
  const std::byte* begin = file->bytes().data() + file->data_offset();
  const std::byte* end = file->bytes().data() + file->file_size();
  st::Writer writer(file->metadata());
  // The reader accepts a tensor named "" (the reference does); the Writer never writes one.
  bool writable = true;
  for (const st::TensorView& t : file->tensors()) {
    LF_CHECK(t.data.empty() || (t.data.data() >= begin && t.data.data() + t.data.size() <= end));
    lf::Result<size_t> nbytes = st::TensorByteSize(t.dtype, t.shape);
    LF_CHECK_MSG(nbytes.ok() && *nbytes == t.data.size(), "tensor " + t.name + ": size mismatch");
    LF_CHECK(file->Contains(t.name) && file->Get(t.name)->data.data() == t.data.data());
    if (t.name.empty()) writable = false;
    if (writable) LF_CHECK_OK(writer.AddView(t.name, t.dtype, t.shape, t.data));
  }
  if (!writable) return 0;
  lf::Result<std::string> written = writer.Serialize();
  LF_CHECK_OK(written);
  lf::Result<st::File> reread = st::File::FromBytes(*written, "written");
  LF_CHECK_OK(reread);
  LF_CHECK(reread->metadata() == file->metadata());
  LF_CHECK(reread->tensors().size() == file->tensors().size());
  for (size_t i = 0; i < file->tensors().size(); ++i) {
    const st::TensorView& a = file->tensors()[i];
    const st::TensorView& b = reread->tensors()[i];
    LF_CHECK(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape);
    LF_CHECK(std::equal(a.data.begin(), a.data.end(), b.data.begin(), b.data.end()));
  }
  return 0;
}
