#include "common/sha256.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_util.h"

namespace lf {
namespace {

// FIPS 180-2 test vectors.
TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, IncrementalEqualsOneShotAndFileHash) {
  std::string data(3'000'000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  Sha256 h;
  h.Update(std::string_view(data).substr(0, 1000));
  h.Update(std::string_view(data).substr(1000));
  EXPECT_EQ(ToHex(h.Finish()), Sha256Hex(data));
  std::string path = ::testing::TempDir() + "/lf_sha256_file.bin";
  ASSERT_TRUE(WriteFileAtomically(path, data).ok());
  Result<std::string> file_hash = Sha256FileHex(path);
  ASSERT_TRUE(file_hash.ok());
  EXPECT_EQ(*file_hash, Sha256Hex(data));
  EXPECT_FALSE(Sha256FileHex(path + ".missing").ok());
}

}  // namespace
}  // namespace lf
