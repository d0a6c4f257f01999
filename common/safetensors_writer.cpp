// safetensors::Writer: lays tensors out as the reference crate does, so the files we export are
// byte-for-byte what Hugging Face tools would write for the same tensors.
#include "common/safetensors.h"
#include "common/utf8.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/file_util.h"

namespace lf::safetensors {
namespace {

// The reference orders dtypes by alignment (its enum order, below) and writes the largest first, so
// every tensor starts aligned to its element size once the header is padded to a multiple of 8.
constexpr std::array<DType, kAllDTypes.size()> kReferenceOrder = {
    DType::kBool, DType::kU8,  DType::kI8,  DType::kF8E5M2, DType::kF8E4M3,
    DType::kI16,  DType::kU16, DType::kF16, DType::kBF16,   DType::kI32,
    DType::kU32,  DType::kF32, DType::kF64, DType::kI64,    DType::kU64};

size_t ReferenceRank(DType dtype) {
  auto it = std::find(kReferenceOrder.begin(), kReferenceOrder.end(), dtype);
  LF_CHECK_MSG(it != kReferenceOrder.end(), "a DType is missing from kReferenceOrder");
  return static_cast<size_t>(it - kReferenceOrder.begin());
}

// Compact JSON string, escaped as serde_json escapes (nlohmann agrees: \" \\ \b \f \n \r \t and
// \u00XX for other control characters; everything else, UTF-8 included, verbatim).
std::string JsonString(std::string_view text) { return nlohmann::json(text).dump(); }

void AppendLittleEndian64(std::string& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

std::string_view AsChars(std::span<const std::byte> data) {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

}  // namespace

Writer::Writer(Metadata metadata) : metadata_(std::move(metadata)) {}

Status Writer::Add(std::string name, DType dtype, std::vector<int64_t> shape,
                   std::span<const std::byte> data) {
  return AddEntry(std::move(name), dtype, std::move(shape), data, /*copy=*/true);
}

Status Writer::AddView(std::string name, DType dtype, std::vector<int64_t> shape,
                       std::span<const std::byte> data) {
  return AddEntry(std::move(name), dtype, std::move(shape), data, /*copy=*/false);
}

Status Writer::AddEntry(std::string name, DType dtype, std::vector<int64_t> shape,
                        std::span<const std::byte> data, bool copy) {
  if (name.empty()) return InvalidArgument("safetensors writer: a tensor name must not be empty");
  if (size_t bad = utf8::FindInvalid(name); bad != std::string_view::npos) {
    return InvalidArgument("safetensors writer: tensor name is not valid UTF-8 (byte " +
                           std::to_string(bad) + ")");
  }
  const std::string quoted = "safetensors writer: tensor " + JsonString(name);
  if (name == "__metadata__") {
    return InvalidArgument(quoted + ": the name is reserved for the header's metadata");
  }
  if (entries_.contains(name)) return InvalidArgument(quoted + ": added twice");
  Result<size_t> nbytes = TensorByteSize(dtype, shape);
  if (!nbytes.ok()) return nbytes.status().WithContext(quoted + ": shape");
  if (data.size() != *nbytes) {
    std::string dims;
    for (int64_t d : shape) dims += (dims.empty() ? "" : ",") + std::to_string(d);
    return InvalidArgument(quoted + ": " + std::to_string(data.size()) + " bytes of data, but " +
                           "shape [" + dims + "] of " + std::string(DTypeName(dtype)) + " needs " +
                           std::to_string(*nbytes));
  }
  Entry entry{dtype, std::move(shape), data, nullptr};
  if (copy) {
    auto owned = std::make_shared<std::vector<std::byte>>(data.begin(), data.end());
    entry.data = std::span<const std::byte>(owned->data(), owned->size());
    entry.owned = std::move(owned);
  }
  entries_.emplace(std::move(name), std::move(entry));
  return Status::Ok();
}

Result<Writer::Layout> Writer::Prepare() const {
  for (const auto& [key, value] : metadata_) {
    if (utf8::FindInvalid(key) != std::string_view::npos ||
        utf8::FindInvalid(value) != std::string_view::npos) {
      return InvalidArgument(
          "safetensors writer: metadata entry " +
          nlohmann::json(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
          " is not valid UTF-8");
    }
  }
  Layout layout;
  std::vector<std::pair<const std::string*, const Entry*>> order;
  order.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) order.emplace_back(&name, &entry);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return ReferenceRank(a.second->dtype) > ReferenceRank(b.second->dtype);
  });  // entries_ is sorted by name, so ties stay in name order

  std::string header = "{";
  if (!metadata_.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata_) {
      if (!first) header += ',';
      first = false;
      header += JsonString(key) + ':' + JsonString(value);
    }
    header += '}';
  }
  for (const auto& [name, entry] : order) {
    if (header.size() > 1) header += ',';
    header += JsonString(*name) + ":{\"dtype\":\"" + std::string(DTypeName(entry->dtype)) +
              "\",\"shape\":[";
    for (size_t i = 0; i < entry->shape.size(); ++i) {
      if (i > 0) header += ',';
      header += std::to_string(entry->shape[i]);
    }
    const size_t begin = layout.data_size;
    if (entry->data.size() > std::numeric_limits<size_t>::max() - begin) {
      return InvalidArgument("safetensors writer: the total data size overflows");
    }
    layout.data_size += entry->data.size();
    header += "],\"data_offsets\":[" + std::to_string(begin) + ',' +
              std::to_string(layout.data_size) + "]}";
    layout.order.push_back(entry);
  }
  header += '}';
  // Padding with spaces (valid JSON whitespace) puts the data buffer on an 8-byte boundary.
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header.size() > kMaxHeaderSize) {
    return InvalidArgument("safetensors writer: the header would be " +
                           std::to_string(header.size()) + " bytes, over the format's limit of " +
                           std::to_string(kMaxHeaderSize) + "; split the tensors across files");
  }
  layout.prefix.reserve(8 + header.size());
  AppendLittleEndian64(layout.prefix, header.size());
  layout.prefix += header;
  return layout;
}

Result<size_t> Writer::FileSize() const {
  LF_ASSIGN_OR_RETURN(Layout layout, Prepare());
  return layout.prefix.size() + layout.data_size;
}

Result<std::string> Writer::Serialize() const {
  LF_ASSIGN_OR_RETURN(Layout layout, Prepare());
  std::string out;
  out.reserve(layout.prefix.size() + layout.data_size);
  out += layout.prefix;
  for (const Entry* entry : layout.order) out += AsChars(entry->data);
  return out;
}

Status Writer::WriteFile(const std::string& path) const {
  LF_ASSIGN_OR_RETURN(Layout layout, Prepare());
  LF_ASSIGN_OR_RETURN(AtomicFileWriter out, AtomicFileWriter::Create(path));
  LF_RETURN_IF_ERROR(out.Append(layout.prefix));
  for (const Entry* entry : layout.order) LF_RETURN_IF_ERROR(out.Append(AsChars(entry->data)));
  LF_CHECK(out.bytes_written() == layout.prefix.size() + layout.data_size);
  return out.Commit();
}

}  // namespace lf::safetensors
