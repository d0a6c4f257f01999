#include "common/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/file_util.h"

namespace lf::safetensors {
namespace {

using ::testing::HasSubstr;

// A fresh directory under the test temp dir, removed with everything in it when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::string templ = ::testing::TempDir() + "/safetensors_test.XXXXXX";
    LF_CHECK(::mkdtemp(templ.data()) != nullptr);
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

template <typename T>
std::span<const std::byte> Bytes(const std::vector<T>& values) {
  return std::as_bytes(std::span(values));
}

std::string ToString(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string LittleEndian64(uint64_t value) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  return out;
}

// A file with the given header text (unpadded; the reader does not require padding) and
// `data_size` bytes of data. `declared` overrides the header length written in the first 8 bytes.
std::string MakeFile(std::string_view header, size_t data_size,
                     std::optional<uint64_t> declared = std::nullopt) {
  std::string out = LittleEndian64(declared.value_or(header.size()));
  out += header;
  out.append(data_size, '\x11');
  return out;
}

// A deterministic byte pattern, different for each seed.
std::vector<std::byte> Pattern(size_t size, int seed) {
  std::vector<std::byte> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<std::byte>((i * 31 + seed * 7 + 3) & 0xFF);
  return out;
}

TEST(SafetensorsDTypeTest, NamesSizesAndParsing) {
  EXPECT_EQ(DTypeName(DType::kF32), "F32");
  EXPECT_EQ(DTypeName(DType::kBool), "BOOL");
  EXPECT_EQ(DTypeName(DType::kF8E4M3), "F8_E4M3");
  EXPECT_EQ(DTypeName(DType::kF8E5M2), "F8_E5M2");
  EXPECT_EQ(DTypeSize(DType::kF64), 8u);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
  for (DType dtype : kAllDTypes) {
    Result<DType> parsed = ParseDType(DTypeName(dtype));
    ASSERT_TRUE(parsed.ok()) << DTypeName(dtype);
    EXPECT_EQ(*parsed, dtype);
  }
  Result<DType> unknown = ParseDType("f32");  // case matters, as in the reference
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown dtype \"f32\""));
  EXPECT_THAT(unknown.status().message(), HasSubstr("F64, F32, F16, BF16"));
  EXPECT_THAT(unknown.status().message(), HasSubstr("F8_E5M2"));
}

TEST(SafetensorsDTypeTest, TensorByteSizeChecksOverflow) {
  EXPECT_EQ(*TensorByteSize(DType::kF32, std::vector<int64_t>{2, 3}), 24u);
  EXPECT_EQ(*TensorByteSize(DType::kF64, std::vector<int64_t>{}), 8u);
  EXPECT_EQ(*TensorByteSize(DType::kF64, std::vector<int64_t>{0, 3}), 0u);
  EXPECT_FALSE(TensorByteSize(DType::kF32, std::vector<int64_t>{2, -1}).ok());
  EXPECT_FALSE(TensorByteSize(DType::kU8, std::vector<int64_t>{1LL << 32, 1LL << 32}).ok());
  EXPECT_FALSE(TensorByteSize(DType::kF64, std::vector<int64_t>{1LL << 62}).ok());
}

// Every dtype, as a matrix, a scalar (shape []) and a zero-size tensor (shape [0, 3]), through
// both Serialize/FromBytes and WriteFile/Open.
TEST(SafetensorsRoundTripTest, EveryDTypeScalarAndEmpty) {
  Writer writer;
  struct Expected {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<std::byte> data;
  };
  std::vector<Expected> expected;
  int seed = 0;
  for (DType dtype : kAllDTypes) {
    const std::string base(DTypeName(dtype));
    for (const std::vector<int64_t>& shape :
         {std::vector<int64_t>{2, 3}, std::vector<int64_t>{}, std::vector<int64_t>{0, 3}}) {
      std::string name = base + (shape.empty() ? ".scalar" : shape[0] == 0 ? ".empty" : ".matrix");
      std::vector<std::byte> data = Pattern(*TensorByteSize(dtype, shape), ++seed);
      ASSERT_TRUE(writer.Add(name, dtype, shape, data).ok());
      expected.push_back({name, dtype, shape, std::move(data)});
    }
  }
  Result<std::string> bytes = writer.Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(bytes->size(), *writer.FileSize());

  ScratchDir dir;
  const std::string path = dir / "all.safetensors";
  ASSERT_TRUE(writer.WriteFile(path).ok());
  EXPECT_EQ(*ReadFileToString(path), *bytes);

  for (Result<File> file : {File::FromBytes(*bytes), File::Open(path)}) {
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    EXPECT_EQ(file->metadata(), (Metadata{{"format", "pt"}}));
    ASSERT_EQ(file->tensors().size(), expected.size());
    EXPECT_EQ(file->file_size(), bytes->size());
    EXPECT_EQ(file->data_offset() % 8, 0u);
    for (const Expected& e : expected) {
      Result<TensorView> view = file->Get(e.name);
      ASSERT_TRUE(view.ok()) << view.status().ToString();
      EXPECT_EQ(view->name, e.name);
      EXPECT_EQ(view->dtype, e.dtype) << e.name;
      EXPECT_EQ(view->shape, e.shape) << e.name;
      EXPECT_EQ(view->numel(), e.shape.empty() ? 1 : e.shape[0] * e.shape[1]) << e.name;
      EXPECT_TRUE(std::equal(view->data.begin(), view->data.end(), e.data.begin(), e.data.end()))
          << e.name;
      // The reference's layout keeps every tensor aligned to its element size.
      const auto offset = static_cast<size_t>(view->data.data() - file->bytes().data());
      EXPECT_EQ(offset % DTypeSize(e.dtype), 0u) << e.name;
    }
    EXPECT_TRUE(
        std::is_sorted(file->tensors().begin(), file->tensors().end(),
                       [](const TensorView& a, const TensorView& b) { return a.name < b.name; }));
  }
}

TEST(SafetensorsRoundTripTest, MetadataIsKeptExactly) {
  Metadata metadata = {
      {"format", "pt"},
      {"quote\"and\\slash", "line\nbreak\ttab \x01 control"},
      {"unicode é ✓", "値 🙂"},
      {"empty", ""},
  };
  Writer writer(metadata);
  std::vector<float> values = {1.5f, -2.0f};
  ASSERT_TRUE(writer.Add("w", DType::kF32, {2}, Bytes(values)).ok());
  Result<File> file = File::FromBytes(*writer.Serialize());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->metadata(), metadata);

  // No metadata at all: no "__metadata__" key is written, and none is read back.
  Writer bare(Metadata{});
  Result<std::string> bytes = bare.Serialize();
  EXPECT_EQ(bytes->substr(8), "{}      ");
  EXPECT_TRUE(File::FromBytes(*bytes)->metadata().empty());
}

// The bytes below were written out by hand from the format's description; the first two are the
// cases the reference crate's own tests pin down.
TEST(SafetensorsLayoutTest, SingleTensorMatchesReferenceBytes) {
  Writer writer(Metadata{});
  std::vector<float> values = {0, 1, 2, 3, 4, 5};
  ASSERT_TRUE(writer.Add("attn.0", DType::kF32, {1, 2, 3}, Bytes(values)).ok());
  const std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(header.size(), 64u);  // already a multiple of 8: no padding
  std::string expected = std::string("\x40\0\0\0\0\0\0\0", 8) + header;
  expected += std::string("\0\0\0\0\0\0\x80\x3f\0\0\0\x40\0\0\x40\x40\0\0\x80\x40\0\0\xa0\x40", 24);
  EXPECT_EQ(*writer.Serialize(), expected);
}

TEST(SafetensorsLayoutTest, EmptyFilesMatchReferenceBytes) {
  EXPECT_EQ(*Writer(Metadata{}).Serialize(), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  EXPECT_EQ(
      *Writer(Metadata{{"framework", "pt"}}).Serialize(),
      std::string("\x28\0\0\0\0\0\0\0", 8) + R"({"__metadata__":{"framework":"pt"}})" + "     ");
}

TEST(SafetensorsLayoutTest, OrderOffsetsAndPaddingByHand) {
  Writer writer;  // {"format": "pt"}
  std::vector<uint8_t> bb = {1, 2, 3};
  std::vector<float> a = {1.0f, 2.0f};
  std::vector<int64_t> c = {7};
  // Added in another order than the file's: largest dtype first, then by name.
  ASSERT_TRUE(writer.Add("bb", DType::kU8, {3}, Bytes(bb)).ok());
  ASSERT_TRUE(writer.Add("a", DType::kF32, {2}, Bytes(a)).ok());
  ASSERT_TRUE(writer.Add("c", DType::kI64, {}, Bytes(c)).ok());
  const std::string json = R"({"__metadata__":{"format":"pt"},)"
                           R"("c":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
                           R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                           R"("bb":{"dtype":"U8","shape":[3],"data_offsets":[16,19]}})";
  ASSERT_EQ(json.size(), 193u);
  std::string expected = std::string("\xc8\0\0\0\0\0\0\0", 8);  // 200 = 193 + 7 spaces
  expected += json + "       ";
  expected += std::string("\x07\0\0\0\0\0\0\0", 8);      // c = 7
  expected += std::string("\0\0\x80\x3f\0\0\0\x40", 8);  // a = 1.0f, 2.0f
  expected += std::string("\x01\x02\x03", 3);            // bb
  Result<std::string> bytes = writer.Serialize();
  ASSERT_EQ(bytes->size(), 8u + 200u + 19u);
  EXPECT_EQ(*bytes, expected);
  Result<File> file = File::FromBytes(*bytes);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->data_offset(), 208u);
}

TEST(SafetensorsLayoutTest, DTypeOrderFollowsTheReference) {
  Writer writer;
  for (DType dtype : kAllDTypes) {
    std::vector<std::byte> data(DTypeSize(dtype));
    ASSERT_TRUE(
        writer.Add(std::string("t.") + std::string(DTypeName(dtype)), dtype, {1}, data).ok());
  }
  Result<File> file = File::FromBytes(*writer.Serialize());
  ASSERT_TRUE(file.ok());
  std::vector<TensorView> by_offset = file->tensors();
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorView& a, const TensorView& b) { return a.data.data() < b.data.data(); });
  std::vector<std::string> order;
  for (const TensorView& t : by_offset) order.emplace_back(DTypeName(t.dtype));
  EXPECT_THAT(order,
              ::testing::ElementsAre("U64", "I64", "F64", "F32", "U32", "I32", "BF16", "F16", "U16",
                                     "I16", "F8_E4M3", "F8_E5M2", "I8", "U8", "BOOL"));
}

// ---- What the reader rejects. Each case is checked through FromBytes and through Open, and the
// message must name where the bytes came from.

struct BadCase {
  std::string label;
  std::string bytes;
  StatusCode code;
  std::string message;  // a substring of the expected message
};

std::string Entry(std::string_view dtype, std::string_view shape, std::string_view offsets) {
  return std::string(R"({"dtype":")") + std::string(dtype) + R"(","shape":)" + std::string(shape) +
         R"(,"data_offsets":)" + std::string(offsets) + "}";
}

std::vector<BadCase> BadCases() {
  const StatusCode kInvalid = StatusCode::kInvalidArgument;
  const StatusCode kLoss = StatusCode::kDataLoss;
  const std::string a8 = R"("a":)" + Entry("F32", "[2]", "[0,8]");
  auto one = [](std::string_view dtype, std::string_view shape, std::string_view offsets,
                size_t data) {
    return MakeFile(R"({"t":)" + Entry(dtype, shape, offsets) + "}", data);
  };
  auto raw = [](std::string_view header, size_t data = 0) { return MakeFile(header, data); };
  return {
      // The 8-byte length and the header's bounds.
      {"empty file", "", kLoss, "0 bytes is too short"},
      {"7 bytes", std::string("\x02\0\0\0\0\0\0", 7), kLoss, "7 bytes is too short"},
      {"header past the end", MakeFile("{}", 0, 100), kLoss,
       "header length 100 runs past the end of the file (10 bytes)"},
      {"header over 100 MB", MakeFile("{}", 0, 100'000'001), kInvalid,
       "exceeds the limit of 100000000"},
      {"header length 2^64-1", MakeFile("{}", 0, ~uint64_t{0}), kInvalid, "exceeds the limit"},
      {"zero-length header", MakeFile("", 0), kInvalid, "does not start with '{'"},
      // The header's text.
      {"header is an array", raw("[1,2]"), kInvalid, "does not start with '{'"},
      {"header is a string", raw(R"("ab")"), kInvalid, "does not start with '{'"},
      {"invalid JSON", raw(R"({"a":)"), kInvalid, "not valid JSON"},
      {"trailing garbage", raw("{} x"), kInvalid, "not valid JSON"},
      {"comment", raw("{/* c */}"), kInvalid, "not valid JSON"},
      {"invalid UTF-8", raw("{\"a\xff\":1}"), kInvalid, "not valid UTF-8 (byte 11 of the file)"},
      {"overlong UTF-8", raw("{\"\xc0\xaf\":1}"), kInvalid, "not valid UTF-8"},
      {"UTF-16 surrogate", raw("{\"\xed\xa0\x80\":1}"), kInvalid, "not valid UTF-8"},
      {"truncated UTF-8", raw("{\"\xe2\x9c\":1}"), kInvalid, "not valid UTF-8"},
      {"duplicate tensor", MakeFile("{" + a8 + "," + a8 + "}", 8), kInvalid, "lists \"a\" twice"},
      {"duplicate metadata", raw(R"({"__metadata__":{},"__metadata__":{}})"), kInvalid,
       "lists \"__metadata__\" twice"},
      {"duplicate field",
       raw(R"({"t":{"dtype":"F32","dtype":"F32","shape":[],)"
           R"("data_offsets":[0,4]}})",
           4),
       kInvalid, "entry of \"t\" has the key \"dtype\" twice"},
      {"duplicate metadata key", raw(R"({"__metadata__":{"k":"1","k":"2"}})"), kInvalid,
       "has the key \"k\" twice"},
      // One tensor's entry.
      {"entry not an object", raw(R"({"t":[1]})"), kInvalid, "tensor \"t\": expected an object"},
      {"missing dtype", raw(R"({"t":{"shape":[],"data_offsets":[0,4]}})", 4), kInvalid,
       "tensor \"t\": \"dtype\" is missing"},
      {"missing shape", raw(R"({"t":{"dtype":"F32","data_offsets":[0,4]}})", 4), kInvalid,
       "tensor \"t\": \"shape\" is missing"},
      {"missing data_offsets", raw(R"({"t":{"dtype":"F32","shape":[]}})"), kInvalid,
       "tensor \"t\": \"data_offsets\" is missing"},
      {"dtype not a string", raw(R"({"t":{"dtype":4,"shape":[],"data_offsets":[0,4]}})", 4),
       kInvalid, "\"dtype\" must be a string, got 4"},
      {"unknown dtype", one("F128", "[]", "[0,16]", 16), kInvalid,
       "tensor \"t\": \"dtype\": unknown dtype \"F128\"; known dtypes: F64, F32"},
      {"lowercase dtype", one("f32", "[]", "[0,4]", 4), kInvalid, "unknown dtype \"f32\""},
      {"shape not an array", one("F32", "3", "[0,12]", 12), kInvalid,
       "\"shape\" must be an array of non-negative integers, got 3"},
      {"negative dim", one("F32", "[2,-3]", "[0,24]", 24), kInvalid,
       "tensor \"t\": \"shape\"[1] is negative (-3)"},
      {"fractional dim", one("F32", "[2.5]", "[0,10]", 10), kInvalid,
       "\"shape\"[0] must be a non-negative integer, got 2.5"},
      {"string dim", one("F32", R"(["2"])", "[0,8]", 8), kInvalid,
       "\"shape\"[0] must be a non-negative integer, got \"2\""},
      {"dim over int64", one("U8", "[9223372036854775808]", "[0,0]", 0), kInvalid,
       "\"shape\"[0] = 9223372036854775808 is too large"},
      {"numel overflow", one("F32", "[4294967296,4294967296,2]", "[0,8]", 8), kInvalid,
       "the element count overflows"},
      {"byte size overflow", one("F64", "[4611686018427387904]", "[0,8]", 8), kInvalid,
       "byte size (4611686018427387904 elements of 8 bytes) overflows"},
      {"offsets not an array", one("F32", "[]", "4", 4), kInvalid,
       "\"data_offsets\" must be [begin, end] with two non-negative integers, got 4"},
      {"one offset", one("F32", "[]", "[4]", 4), kInvalid, "must be [begin, end]"},
      {"three offsets", one("F32", "[]", "[0,4,4]", 4), kInvalid, "must be [begin, end]"},
      {"negative offset", one("F32", "[]", "[-4,0]", 4), kInvalid, "must be [begin, end]"},
      {"float offset", one("F32", "[]", "[0,4.0]", 4), kInvalid, "got [0,4.0]"},
      {"begin after end", one("F32", "[]", "[4,0]", 4), kInvalid,
       "\"data_offsets\" [4, 0] begins after it ends"},
      {"size mismatch", one("F32", "[2]", "[0,12]", 12), kInvalid,
       "\"data_offsets\" [0, 12] hold 12 bytes, but shape [2] of F32 needs 8"},
      // The layout across tensors, and the file's size.
      {"overlap", MakeFile("{" + a8 + R"(,"b":)" + Entry("F32", "[2]", "[4,12]") + "}", 12),
       kInvalid, "tensor \"b\": \"data_offsets\" [4, 12] overlap tensor \"a\" at [0, 8]"},
      {"same range twice", MakeFile("{" + a8 + R"(,"b":)" + Entry("F32", "[2]", "[0,8]") + "}", 8),
       kInvalid, "overlap tensor"},
      {"empty tensor inside another",
       MakeFile("{" + a8 + R"(,"e":)" + Entry("F32", "[0]", "[4,4]") + "}", 8), kInvalid,
       "tensor \"e\": \"data_offsets\" [4, 4] overlap"},
      {"gap", MakeFile("{" + a8 + R"(,"b":)" + Entry("F32", "[2]", "[12,20]") + "}", 20), kInvalid,
       "leave a gap of 4 bytes after tensor \"a\" at [0, 8]"},
      {"not starting at 0", one("F32", "[2]", "[4,12]", 12), kInvalid,
       "the first tensor must start at offset 0"},
      {"data truncated", one("F32", "[2]", "[0,8]", 5), kLoss,
       "the tensors need 8 bytes of data but the file holds only 5"},
      {"data missing", one("F32", "[2]", "[0,8]", 0), kLoss, "truncated"},
      {"bytes after the data", one("F32", "[2]", "[0,8]", 11), kLoss,
       "the file has 3 bytes after the end of the tensor data"},
      {"data but no tensors", raw("{}", 1), kLoss, "1 bytes after the end"},
      // __metadata__.
      {"metadata not an object", raw(R"({"__metadata__":"pt"})"), kInvalid,
       "\"__metadata__\" must be an object of strings, got string"},
      {"metadata is an array", raw(R"({"__metadata__":[]})"), kInvalid,
       "must be an object of strings, got array"},
      {"metadata value not a string", raw(R"({"__metadata__":{"k":1}})"), kInvalid,
       "\"__metadata__\"[\"k\"] must be a string, got 1"},
      {"metadata value is an object", raw(R"({"__metadata__":{"k":{}}})"), kInvalid,
       "\"__metadata__\"[\"k\"] must be a string"},
  };
}

TEST(SafetensorsReaderTest, RejectsMalformedInputsFromMemory) {
  for (const BadCase& c : BadCases()) {
    Result<File> file = File::FromBytes(c.bytes, "adapter 42");
    ASSERT_FALSE(file.ok()) << c.label;
    EXPECT_EQ(file.status().code(), c.code) << c.label << ": " << file.status().ToString();
    EXPECT_THAT(file.status().message(), HasSubstr(c.message)) << c.label;
    EXPECT_THAT(file.status().message(), ::testing::StartsWith("adapter 42: ")) << c.label;
  }
  Result<File> unnamed = File::FromBytes("");
  EXPECT_THAT(unnamed.status().message(), ::testing::StartsWith("<memory>: "));
}

TEST(SafetensorsReaderTest, RejectsMalformedFilesOnDisk) {
  ScratchDir dir;
  int i = 0;
  for (const BadCase& c : BadCases()) {
    const std::string path = dir / ("bad" + std::to_string(i++) + ".safetensors");
    ASSERT_TRUE(WriteFileAtomically(path, c.bytes).ok());
    Result<File> file = File::Open(path);
    ASSERT_FALSE(file.ok()) << c.label;
    EXPECT_EQ(file.status().code(), c.code) << c.label << ": " << file.status().ToString();
    EXPECT_THAT(file.status().message(), HasSubstr(c.message)) << c.label;
    EXPECT_THAT(file.status().message(), HasSubstr(path)) << c.label;
  }
}

TEST(SafetensorsReaderTest, DeeplyNestedHeaderValuesAreRefusedNotRecursedInto) {
  // Found while writing the fuzz target (by hand: libFuzzer's inputs stay far smaller): a shape,
  // data_offsets or metadata value nested a million levels deep (a 2 MB header) overflowed the
  // stack when the error message printed it.
  const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
  for (const std::string& header :
       {R"({"a":{"dtype":"F32","shape":[)" + deep + R"(],"data_offsets":[0,4]}})",
        R"({"a":{"dtype":"F32","shape":[1],"data_offsets":)" + deep + "}}",
        R"({"__metadata__":{"k":)" + deep + "}}"}) {
    Result<File> file = File::FromBytes(MakeFile(header, 4), "deep.safetensors");
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(file.status().message(),
              "deep.safetensors: the header nests objects and arrays deeper than 128 levels; "
              "the file is corrupt");
  }
  // 128 levels are still read (and refused for what they hold, not for their depth).
  const std::string ok_depth = std::string(126, '[') + std::string(126, ']');
  Result<File> shallow = File::FromBytes(
      MakeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":)" + ok_depth + "}}", 4));
  ASSERT_FALSE(shallow.ok());
  EXPECT_THAT(shallow.status().message(), HasSubstr("must be [begin, end]"));
}

TEST(SafetensorsReaderTest, AcceptsWhatTheReferenceAccepts) {
  // Header whitespace other than spaces, tensors listed out of offset order, zero-size tensors at
  // the end and between others, null metadata, and entry fields the format does not define.
  const std::string header = "{\"__metadata__\":null,\n\t\"b\":" + Entry("U8", "[2]", "[8,10]") +
                             ",\"a\":" + Entry("F32", "[2]", "[0,8]") +
                             ",\"e\":" + Entry("I64", "[0,4]", "[8,8]") +
                             ",\"z\":" + Entry("BOOL", "[0]", "[10,10]") +
                             R"(,"x":{"data_offsets":[10,10],"extra":[1],"shape":[0],)"
                             R"("dtype":"F16"}} )" +
                             "\r\n";
  Result<File> file = File::FromBytes(MakeFile(header, 10));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_TRUE(file->metadata().empty());
  ASSERT_EQ(file->tensors().size(), 5u);
  EXPECT_EQ(file->tensors()[0].name, "a");
  EXPECT_EQ(file->Get("b")->data.size(), 2u);
  EXPECT_EQ(file->Get("e")->numel(), 0);
  EXPECT_EQ(file->Get("x")->dtype, DType::kF16);

  // A header-only file with no tensors at all.
  Result<File> empty = File::FromBytes(MakeFile("{}", 0));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->tensors().empty());
  EXPECT_EQ(empty->file_size(), 10u);
}

TEST(SafetensorsReaderTest, GetContainsAndNotFound) {
  Writer writer;
  std::vector<int32_t> values = {1, 2, 3};
  ASSERT_TRUE(writer.Add("layers.0.lora_A.weight", DType::kI32, {3}, Bytes(values)).ok());
  Result<File> file = File::FromBytes(*writer.Serialize(), "adapter.safetensors");
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(file->Contains("layers.0.lora_A.weight"));
  EXPECT_FALSE(file->Contains("layers.0"));
  EXPECT_FALSE(file->Contains("layers.0.lora_A.weight.x"));
  Result<TensorView> missing = file->Get("layers.0.lora_B.weight");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("adapter.safetensors"));
  EXPECT_THAT(missing.status().message(), HasSubstr("\"layers.0.lora_B.weight\""));
  EXPECT_EQ(file->source(), "adapter.safetensors");

  ScratchDir dir;
  Result<File> absent = File::Open(dir / "absent.safetensors");
  EXPECT_EQ(absent.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(absent.status().message(), HasSubstr("absent.safetensors"));
}

// FromBytes takes the string over: views point into the very buffer the caller had.
TEST(SafetensorsReaderTest, FromBytesDoesNotCopy) {
  Writer writer;
  std::vector<std::byte> data = Pattern(4096, 1);
  ASSERT_TRUE(writer.Add("w", DType::kU8, {4096}, data).ok());
  std::string bytes = *writer.Serialize();
  const char* buffer = bytes.data();
  const size_t size = bytes.size();
  Result<File> file = File::FromBytes(std::move(bytes));
  ASSERT_TRUE(file.ok());
  const auto* p = reinterpret_cast<const char*>(file->Get("w")->data.data());
  EXPECT_GE(p, buffer);
  EXPECT_LE(p + 4096, buffer + size);
  EXPECT_EQ(reinterpret_cast<const char*>(file->bytes().data()), buffer);
}

TEST(SafetensorsReaderTest, ViewsOutliveTheOriginalFileObject) {
  Writer writer;
  std::vector<std::byte> data = Pattern(1000, 5);
  ASSERT_TRUE(writer.Add("w", DType::kU8, {1000}, data).ok());
  ScratchDir dir;
  const std::string path = dir / "w.safetensors";
  ASSERT_TRUE(writer.WriteFile(path).ok());
  std::optional<File> copy;
  TensorView view;
  {
    Result<File> file = File::Open(path);
    ASSERT_TRUE(file.ok());
    copy = *file;
    view = *file->Get("w");
  }
  // The file on disk may be replaced meanwhile: the mapping keeps the old contents.
  ASSERT_TRUE(WriteFileAtomically(path, "replaced").ok());
  EXPECT_TRUE(std::equal(view.data.begin(), view.data.end(), data.begin(), data.end()));
  EXPECT_EQ(copy->Get("w")->data.data(), view.data.data());
}

TEST(SafetensorsReaderTest, ConcurrentReadersSeeTheSameData) {
  Writer writer;
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(writer.Add("t" + std::to_string(i), DType::kF32, {64}, Pattern(256, i)).ok());
  }
  Result<File> file = File::FromBytes(*writer.Serialize());
  ASSERT_TRUE(file.ok());
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        for (int i = 0; i < 16; ++i) {
          File local = *file;  // copies share the buffer
          std::vector<std::byte> expected = Pattern(256, i);
          Result<TensorView> view = local.Get("t" + std::to_string(i));
          if (!view.ok() ||
              !std::equal(view->data.begin(), view->data.end(), expected.begin(), expected.end())) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// ---- Writer checks.

TEST(SafetensorsWriterTest, AddRejectsBadTensors) {
  Writer writer;
  std::vector<float> two = {1, 2};
  ASSERT_TRUE(writer.Add("w", DType::kF32, {2}, Bytes(two)).ok());
  struct Bad {
    std::string name;
    std::vector<int64_t> shape;
    std::string message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"w", {2}, "tensor \"w\": added twice"},
           {"", {2}, "name must not be empty"},
           {"__metadata__", {2}, "reserved"},
           {"bad\xff", {2}, "not valid UTF-8"},
           {"v", {3}, "tensor \"v\": 8 bytes of data, but shape [3] of F32 needs 12"},
           {"v", {-1, -2}, "dimension 0 is negative (-1)"},
           {"v", {1LL << 40, 1LL << 40}, "overflows"},
       }) {
    Status st = writer.Add(bad.name, DType::kF32, bad.shape, Bytes(two));
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad.message;
    EXPECT_THAT(st.message(), HasSubstr(bad.message));
    Status view = writer.AddView(bad.name, DType::kF32, bad.shape, Bytes(two));
    EXPECT_EQ(view, st);
  }
  EXPECT_EQ(writer.tensor_count(), 1u);
}

TEST(SafetensorsWriterTest, RejectsNonUtf8Metadata) {
  Writer writer(Metadata{{"format", "pt"}, {"note", "bad \xc3"}});
  Result<std::string> bytes = writer.Serialize();
  EXPECT_EQ(bytes.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bytes.status().message(), HasSubstr("metadata entry \"note\" is not valid UTF-8"));
  ScratchDir dir;
  EXPECT_FALSE(writer.WriteFile(dir / "x.safetensors").ok());
}

TEST(SafetensorsWriterTest, AddCopiesAndAddViewBorrows) {
  std::vector<int32_t> copied = {1, 2};
  std::vector<int32_t> borrowed = {3, 4};
  Writer writer;
  ASSERT_TRUE(writer.Add("copied", DType::kI32, {2}, Bytes(copied)).ok());
  ASSERT_TRUE(writer.AddView("borrowed", DType::kI32, {2}, Bytes(borrowed)).ok());
  Writer copy_of_writer = writer;  // shares what Add copied
  copied[0] = 100;
  borrowed[0] = 300;
  Result<File> file = File::FromBytes(*copy_of_writer.Serialize());
  ASSERT_TRUE(file.ok());
  int32_t first;
  std::memcpy(&first, file->Get("copied")->data.data(), 4);
  EXPECT_EQ(first, 1);
  std::memcpy(&first, file->Get("borrowed")->data.data(), 4);
  EXPECT_EQ(first, 300);
}

TEST(SafetensorsWriterTest, WriteFileReplacesAtomicallyAndLeavesNoTemporaries) {
  ScratchDir dir;
  const std::string path = dir / "model.safetensors";
  ASSERT_TRUE(WriteFileAtomically(path, "old contents").ok());
  Writer writer;
  std::vector<std::byte> data = Pattern(3 << 20, 9);  // larger than the writer's buffer
  ASSERT_TRUE(writer.AddView("big", DType::kU8, {3 << 20}, data).ok());
  std::vector<float> small = {1, 2, 3};
  ASSERT_TRUE(writer.Add("small", DType::kF32, {3}, Bytes(small)).ok());
  ASSERT_TRUE(writer.WriteFile(path).ok());
  EXPECT_EQ(*ReadFileToString(path), *writer.Serialize());
  EXPECT_EQ(std::filesystem::file_size(path), *writer.FileSize());
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++entries;
    EXPECT_EQ(entry.path().filename(), "model.safetensors");
  }
  EXPECT_EQ(entries, 1);

  Status missing_dir = writer.WriteFile(dir / "no/such/dir/model.safetensors");
  EXPECT_EQ(missing_dir.code(), StatusCode::kNotFound);
  EXPECT_THAT(missing_dir.message(), HasSubstr("no/such/dir"));
}

// ---- A large file is mapped, not read.

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t total = 0, resident = 0;
  statm >> total >> resident;
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

// True when `p` lies inside a mapping of a file whose name ends with `filename`.
bool InFileMapping(const void* p, const std::string& filename) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto address = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    uintptr_t begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &begin, &end) != 2) continue;
    if (address >= begin && address < end) {
      return line.size() >= filename.size() &&
             line.compare(line.size() - filename.size(), filename.size(), filename) == 0;
    }
  }
  return false;
}

TEST(SafetensorsLargeFileTest, OpenMapsWithoutCopying) {
  constexpr size_t kSize = 64u << 20;
  ScratchDir dir;
  const std::string path = dir / "big.safetensors";
  {
    std::vector<float> values(kSize / sizeof(float));
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 1000);
    Writer writer;
    ASSERT_TRUE(
        writer.AddView("w", DType::kF32, {static_cast<int64_t>(values.size())}, Bytes(values))
            .ok());
    ASSERT_TRUE(writer.WriteFile(path).ok());
  }
  const size_t before = ResidentBytes();
  Result<File> file = File::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const size_t after_open = ResidentBytes();
  Result<TensorView> view = file->Get("w");
  ASSERT_EQ(view->data.size(), kSize);
  // Opening touches the header's pages only.
  EXPECT_LT(after_open, before + (8u << 20)) << "Open read the data into memory";
  EXPECT_TRUE(InFileMapping(view->data.data(), "big.safetensors"));
  EXPECT_TRUE(InFileMapping(view->data.data() + kSize - 1, "big.safetensors"));

  // Touching every page (one float in each) brings the file in once, not a second copy.
  for (size_t i = 0; i < kSize / sizeof(float); i += 4096 / sizeof(float)) {
    float v;
    std::memcpy(&v, view->data.data() + i * sizeof(float), sizeof v);
    ASSERT_EQ(v, static_cast<float>(i % 1000)) << "at element " << i;
  }
  EXPECT_LT(ResidentBytes(), before + kSize + (kSize / 2));
}

// ---- Interoperability with Hugging Face's python package, when it is installed.

int RunCommand(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output->append(buffer, n);
  int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Hex(std::span<const std::byte> bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    out.push_back(kDigits[std::to_integer<int>(b) >> 4]);
    out.push_back(kDigits[std::to_integer<int>(b) & 15]);
  }
  return out;
}

class SafetensorsPythonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string output;
    if (RunCommand("python3 -c 'import numpy; from safetensors import deserialize; "
                   "from safetensors.numpy import save_file'",
                   &output) != 0) {
      GTEST_SKIP() << "python3 with the safetensors and numpy packages is not available; "
                      "`pip install safetensors numpy` to run the cross-check";
    }
    script_ = std::string(LF_TEST_SRCDIR) + "/testdata/safetensors_interop.py";
  }

  nlohmann::json Run(const std::string& mode, const std::string& path) {
    std::string output;
    const std::string out = path + ".json";
    int rc =
        RunCommand("python3 '" + script_ + "' " + mode + " '" + path + "' '" + out + "'", &output);
    EXPECT_EQ(rc, 0) << output;
    return nlohmann::json::parse(*ReadFileToString(out));
  }

  std::string script_;
  ScratchDir dir_;
};

TEST_F(SafetensorsPythonTest, ReferenceReadsOurFiles) {
  Writer writer(Metadata{{"format", "pt"}, {"lorafleet", "ünïcode \"q\""}});
  int seed = 0;
  for (DType dtype : kAllDTypes) {
    for (const std::vector<int64_t>& shape :
         {std::vector<int64_t>{2, 3}, std::vector<int64_t>{}, std::vector<int64_t>{0, 3}}) {
      std::string name = std::string(DTypeName(dtype)) + "." + std::to_string(shape.size()) +
                         (shape.empty() || shape[0] != 0 ? "" : "e");
      std::vector<std::byte> data = Pattern(*TensorByteSize(dtype, shape), ++seed);
      if (dtype == DType::kBool) {
        for (std::byte& b : data) b &= std::byte{1};  // numpy wants 0 or 1
      }
      ASSERT_TRUE(writer.Add(name, dtype, shape, data).ok());
    }
  }
  const std::string path = dir_ / "ours.safetensors";
  ASSERT_TRUE(writer.WriteFile(path).ok());
  nlohmann::json described = Run("read", path);
  Result<File> file = File::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(described["metadata"], nlohmann::json(file->metadata()));
  ASSERT_EQ(described["tensors"].size(), file->tensors().size());
  for (const TensorView& t : file->tensors()) {
    const nlohmann::json& d = described["tensors"][t.name];
    EXPECT_EQ(d["dtype"], DTypeName(t.dtype)) << t.name;
    EXPECT_EQ(d["shape"], nlohmann::json(t.shape)) << t.name;
    EXPECT_EQ(d["hex"], Hex(t.data)) << t.name;
  }
}

TEST_F(SafetensorsPythonTest, WeReadTheReferencesFilesAndWriteTheSameBytes) {
  const std::string path = dir_ / "theirs.safetensors";
  nlohmann::json described = Run("write", path);
  Result<File> file = File::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(nlohmann::json(file->metadata()), described["metadata"]);
  ASSERT_EQ(file->tensors().size(), described["tensors"].size());
  Writer writer(file->metadata());
  for (const TensorView& t : file->tensors()) {
    const nlohmann::json& d = described["tensors"][t.name];
    EXPECT_EQ(d["dtype"], DTypeName(t.dtype)) << t.name;
    EXPECT_EQ(d["shape"], nlohmann::json(t.shape)) << t.name;
    EXPECT_EQ(d["hex"], Hex(t.data)) << t.name;
    ASSERT_TRUE(writer.AddView(t.name, t.dtype, t.shape, t.data).ok());
  }
  // One metadata key, so the reference's hash-map order cannot differ from ours.
  EXPECT_EQ(*writer.Serialize(), ToString(file->bytes()));
}

}  // namespace
}  // namespace lf::safetensors
