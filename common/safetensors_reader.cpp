// safetensors::File: checks a header against every rule of the format before handing out views,
// so no TensorView can ever point outside the file.
#include "common/safetensors.h"
#include "common/utf8.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "common/json_reader.h"
#include "common/mapped_file.h"

namespace lf::safetensors {

struct File::State {
  std::string source;
  std::optional<MappedFile> mapping;  // set by Open
  std::string owned;                  // set by FromBytes
  std::span<const std::byte> bytes;
  Metadata metadata;
  std::vector<TensorView> tensors;  // sorted by name
  size_t data_offset = 0;
};

namespace {

using nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";

// A name as it appears in messages: JSON-quoted, so control characters and quotes stay visible.
std::string Quote(std::string_view text) {
  return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Range(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// A tensor's header entry, checked on its own; the layout is checked across entries afterwards.
struct Entry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Thrown by the parse callback to stop at the first level past kMaxJsonDepth.
struct TooDeep {};

// Finds keys that appear twice in one JSON object. nlohmann keeps only the last of them, so they
// must be caught while parsing; the reference would also silently keep one.
class DuplicateKeyFinder {
 public:
  bool OnEvent(json::parse_event_t event, const json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects_.emplace_back();
        break;
      case json::parse_event_t::object_end:
        open_objects_.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (open_objects_.size() == 1) top_level_key_ = key;
        if (!open_objects_.back().insert(key).second && message_.empty()) {
          message_ = open_objects_.size() == 1 ? "the header lists " + Quote(key) + " twice"
                                               : "the entry of " + Quote(top_level_key_) +
                                                     " has the key " + Quote(key) + " twice";
        }
        break;
      }
      default:
        break;
    }
    return true;  // keep every value
  }
  const std::string& message() const { return message_; }

 private:
  std::vector<std::set<std::string>> open_objects_;  // keys seen in each object being parsed
  std::string top_level_key_;
  std::string message_;
};

// A JSON number that is a non-negative integer, as serde's usize accepts.
std::optional<uint64_t> AsUnsigned(const json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(value.get<int64_t>());
  }
  return std::nullopt;
}

Result<Entry> ParseEntry(const std::string& where, const std::string& name, const json& value) {
  if (!value.is_object()) {
    return InvalidArgument(where + ": expected an object with \"dtype\", \"shape\" and " +
                           "\"data_offsets\", got " + value.type_name());
  }
  Entry entry;
  entry.name = name;
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(field)) {
      return InvalidArgument(where + ": \"" + field + "\" is missing");
    }
  }

  const json& dtype = value.at("dtype");
  if (!dtype.is_string()) {
    return InvalidArgument(where + ": \"dtype\" must be a string, got " + dtype.dump());
  }
  Result<DType> parsed = ParseDType(dtype.get_ref<const std::string&>());
  if (!parsed.ok()) return parsed.status().WithContext(where + ": \"dtype\"");
  entry.dtype = *parsed;

  const json& shape = value.at("shape");
  if (!shape.is_array()) {
    return InvalidArgument(where + ": \"shape\" must be an array of non-negative integers, got " +
                           shape.dump());
  }
  for (size_t i = 0; i < shape.size(); ++i) {
    const json& dim = shape[i];
    std::string at = where + ": \"shape\"[" + std::to_string(i) + "]";
    if (dim.is_number_integer() && !dim.is_number_unsigned() && dim.get<int64_t>() < 0) {
      return InvalidArgument(at + " is negative (" + dim.dump() + ")");
    }
    std::optional<uint64_t> d = AsUnsigned(dim);
    if (!d) return InvalidArgument(at + " must be a non-negative integer, got " + dim.dump());
    if (*d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InvalidArgument(at + " = " + dim.dump() + " is too large (overflows int64)");
    }
    entry.shape.push_back(static_cast<int64_t>(*d));
  }

  const json& offsets = value.at("data_offsets");
  std::optional<uint64_t> begin, end;
  if (offsets.is_array() && offsets.size() == 2) {
    begin = AsUnsigned(offsets[0]);
    end = AsUnsigned(offsets[1]);
  }
  if (!begin || !end) {
    return InvalidArgument(where + ": \"data_offsets\" must be [begin, end] with two " +
                           "non-negative integers, got " + offsets.dump());
  }
  entry.begin = *begin;
  entry.end = *end;
  if (entry.begin > entry.end) {
    return InvalidArgument(where + ": \"data_offsets\" " + Range(entry.begin, entry.end) +
                           " begins after it ends");
  }

  Result<size_t> nbytes = TensorByteSize(entry.dtype, entry.shape);
  if (!nbytes.ok()) {
    return nbytes.status().WithContext(where + ": \"shape\" " + shape.dump() + " of " +
                                       dtype.get<std::string>());
  }
  if (entry.end - entry.begin != *nbytes) {
    return InvalidArgument(where + ": \"data_offsets\" " + Range(entry.begin, entry.end) +
                           " hold " + std::to_string(entry.end - entry.begin) +
                           " bytes, but shape " + shape.dump() + " of " + dtype.get<std::string>() +
                           " needs " + std::to_string(*nbytes));
  }
  return entry;
}

Status ParseMetadata(const std::string& source, const json& value, Metadata& out) {
  if (value.is_null()) return Status::Ok();  // the reference reads null as "no metadata"
  if (!value.is_object()) {
    return InvalidArgument(source + ": \"__metadata__\" must be an object of strings, got " +
                           value.type_name());
  }
  for (const auto& [key, text] : value.items()) {
    if (!text.is_string()) {
      return InvalidArgument(source + ": \"__metadata__\"[" + Quote(key) +
                             "] must be a string, got " + text.dump());
    }
    out.emplace(key, text.get<std::string>());
  }
  return Status::Ok();
}

// Tensors must tile the data buffer exactly: sorted by offset, each starts where the previous
// one ends, the first at 0, the last at the end of the file. This is what makes the views safe.
Status CheckLayout(const std::string& source, std::vector<Entry>& entries, size_t data_size) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    std::string where =
        source + ": tensor " + Quote(e.name) + ": \"data_offsets\" " + Range(e.begin, e.end);
    if (e.begin < covered) {
      return InvalidArgument(where + " overlap tensor " + Quote(previous->name) + " at " +
                             Range(previous->begin, previous->end));
    }
    if (e.begin > covered) {
      if (previous == nullptr) {
        return InvalidArgument(where + " leave a gap: the first tensor must start at offset 0");
      }
      return InvalidArgument(where + " leave a gap of " + std::to_string(e.begin - covered) +
                             " bytes after tensor " + Quote(previous->name) + " at " +
                             Range(previous->begin, previous->end));
    }
    covered = e.end;
    previous = &e;
  }
  if (covered > data_size) {
    return DataLoss(source + ": the tensors need " + std::to_string(covered) +
                    " bytes of data but the file holds only " + std::to_string(data_size) +
                    " after the header; the file is truncated");
  }
  if (covered < data_size) {
    return DataLoss(source + ": the file has " + std::to_string(data_size - covered) +
                    " bytes after the end of the tensor data; its size must be exactly " +
                    "8 + header length + data size (" + std::to_string(covered) + ")");
  }
  return Status::Ok();
}

}  // namespace

Result<File> File::Open(const std::string& path) {
  LF_ASSIGN_OR_RETURN(MappedFile mapping, MappedFile::Open(path));
  auto state = std::make_shared<State>();
  state->source = path;
  state->bytes = mapping.bytes();
  state->mapping.emplace(std::move(mapping));
  return Parse(std::move(state));
}

Result<File> File::FromBytes(std::string bytes, std::string source_name) {
  auto state = std::make_shared<State>();
  state->source = std::move(source_name);
  state->owned = std::move(bytes);
  state->bytes = std::as_bytes(std::span(state->owned.data(), state->owned.size()));
  return Parse(std::move(state));
}

Result<File> File::Parse(std::shared_ptr<State> state) {
  const std::string& source = state->source;
  const std::span<const std::byte> bytes = state->bytes;
  if (bytes.size() < 8) {
    return DataLoss(source + ": " + std::to_string(bytes.size()) + " bytes is too short for a " +
                    "safetensors file, which starts with an 8-byte header length");
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) {
    header_size = (header_size << 8) | std::to_integer<uint64_t>(bytes[static_cast<size_t>(i)]);
  }
  if (header_size > kMaxHeaderSize) {
    return InvalidArgument(source + ": the header length " + std::to_string(header_size) +
                           " exceeds the limit of " + std::to_string(kMaxHeaderSize) +
                           " bytes; the file is corrupt or not a safetensors file");
  }
  if (header_size > bytes.size() - 8) {
    return DataLoss(source + ": the header length " + std::to_string(header_size) +
                    " runs past the end of the file (" + std::to_string(bytes.size()) +
                    " bytes); the file is truncated or not a safetensors file");
  }
  std::string_view header(reinterpret_cast<const char*>(bytes.data()) + 8, header_size);
  if (header.empty() || header.front() != '{') {
    return InvalidArgument(source + ": the header does not start with '{'; the file is " +
                           "corrupt or not a safetensors file");
  }
  if (size_t bad = utf8::FindInvalid(header); bad != std::string_view::npos) {
    return InvalidArgument(source + ": the header is not valid UTF-8 (byte " +
                           std::to_string(8 + bad) + " of the file)");
  }

  DuplicateKeyFinder duplicates;
  json root;
  try {
    root = json::parse(header, [&duplicates](int depth, json::parse_event_t event, json& parsed) {
      // A value nested a million levels deep would overflow the stack wherever it is printed in
      // an error message (dump() recurses); a real header is three levels deep. serde_json, which
      // the reference reads headers with, stops at the same depth.
      if (depth >= kMaxJsonDepth && (event == json::parse_event_t::object_start ||
                                     event == json::parse_event_t::array_start)) {
        throw TooDeep{};
      }
      return duplicates.OnEvent(event, parsed);
    });
  } catch (const TooDeep&) {
    return InvalidArgument(source + ": the header nests objects and arrays deeper than " +
                           std::to_string(kMaxJsonDepth) + " levels; the file is corrupt");
  } catch (const json::exception& e) {
    return InvalidArgument(source + ": the header is not valid JSON: " + e.what());
  }
  if (!duplicates.message().empty()) {
    return InvalidArgument(source + ": " + duplicates.message());
  }
  if (!root.is_object()) {
    return InvalidArgument(source + ": the header must be a JSON object, got " + root.type_name());
  }

  std::vector<Entry> entries;
  entries.reserve(root.size());
  for (const auto& [name, value] : root.items()) {
    if (name == kMetadataKey) {
      LF_RETURN_IF_ERROR(ParseMetadata(source, value, state->metadata));
      continue;
    }
    LF_ASSIGN_OR_RETURN(Entry entry, ParseEntry(source + ": tensor " + Quote(name), name, value));
    entries.push_back(std::move(entry));
  }
  state->data_offset = 8 + header_size;
  LF_RETURN_IF_ERROR(CheckLayout(source, entries, bytes.size() - state->data_offset));

  state->tensors.reserve(entries.size());
  for (Entry& e : entries) {
    TensorView view;
    view.name = std::move(e.name);
    view.dtype = e.dtype;
    view.shape = std::move(e.shape);
    view.data = bytes.subspan(state->data_offset + e.begin, e.end - e.begin);
    state->tensors.push_back(std::move(view));
  }
  std::sort(state->tensors.begin(), state->tensors.end(),
            [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
  return File(std::move(state));
}

const Metadata& File::metadata() const { return state_->metadata; }
const std::vector<TensorView>& File::tensors() const { return state_->tensors; }
const std::string& File::source() const { return state_->source; }
size_t File::data_offset() const { return state_->data_offset; }
size_t File::file_size() const { return state_->bytes.size(); }
std::span<const std::byte> File::bytes() const { return state_->bytes; }

const TensorView* File::Find(std::string_view name) const {
  const auto& tensors = state_->tensors;
  auto it = std::lower_bound(
      tensors.begin(), tensors.end(), name,
      [](const TensorView& t, std::string_view n) { return std::string_view(t.name) < n; });
  return it != tensors.end() && it->name == name ? &*it : nullptr;
}

bool File::Contains(std::string_view name) const { return Find(name) != nullptr; }

Result<TensorView> File::Get(std::string_view name) const {
  if (const TensorView* view = Find(name)) return *view;
  return NotFound(state_->source + ": no tensor named " + Quote(name) + " (the file has " +
                  std::to_string(state_->tensors.size()) + " tensors)");
}

}  // namespace lf::safetensors
