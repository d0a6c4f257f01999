#include "common/mapped_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <utility>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file_util.h"

namespace lf {
namespace {

using ::testing::HasSubstr;

class MappedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "/mapped_file_test.XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string Write(const std::string& name, std::string_view contents) {
    std::string path = dir_ + "/" + name;
    LF_CHECK_OK(WriteFileAtomically(path, contents));
    return path;
  }

  std::string dir_;
};

TEST_F(MappedFileTest, MapsTheWholeFile) {
  std::string contents(10000, '\0');
  for (size_t i = 0; i < contents.size(); ++i) contents[i] = static_cast<char>(i * 13);
  const std::string path = Write("data.bin", contents);
  Result<MappedFile> file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->size(), contents.size());
  EXPECT_EQ(file->path(), path);
  ASSERT_EQ(file->bytes().size(), contents.size());
  EXPECT_EQ(std::memcmp(file->data(), contents.data(), contents.size()), 0);
  // A mapping starts on a page boundary.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(file->data()) % ::sysconf(_SC_PAGESIZE), 0u);
}

TEST_F(MappedFileTest, EmptyFileGivesAnEmptyMapping) {
  Result<MappedFile> file = MappedFile::Open(Write("empty.bin", ""));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->size(), 0u);
  EXPECT_TRUE(file->bytes().empty());
}

TEST_F(MappedFileTest, MissingFileIsNotFound) {
  Result<MappedFile> file = MappedFile::Open(dir_ + "/absent.bin");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr(dir_ + "/absent.bin"));
}

TEST_F(MappedFileTest, DirectoryIsRejected) {
  Result<MappedFile> file = MappedFile::Open(dir_);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(file.status().message(), HasSubstr("not a regular file"));
}

// A FIFO would block a plain open() until a writer appears; it must fail at once instead.
TEST_F(MappedFileTest, FifoIsRejectedWithoutBlocking) {
  const std::string path = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  Result<MappedFile> file = MappedFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(MappedFileTest, MoveTransfersTheMapping) {
  Result<MappedFile> opened = MappedFile::Open(Write("a.bin", "hello"));
  ASSERT_TRUE(opened.ok());
  MappedFile first = std::move(opened).value();
  const std::byte* data = first.data();
  MappedFile second = std::move(first);
  EXPECT_EQ(second.data(), data);
  EXPECT_EQ(second.size(), 5u);
  EXPECT_EQ(first.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from state is defined
  EXPECT_EQ(first.data(), nullptr);

  Result<MappedFile> other = MappedFile::Open(Write("b.bin", "world!"));
  ASSERT_TRUE(other.ok());
  second = std::move(other).value();  // unmaps "a.bin"'s mapping
  EXPECT_EQ(second.size(), 6u);
  EXPECT_EQ(std::memcmp(second.data(), "world!", 6), 0);
}

TEST_F(MappedFileTest, MappingSurvivesReplacementByRename) {
  const std::string path = Write("model.bin", "original");
  Result<MappedFile> file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(WriteFileAtomically(path, "replaced, and longer").ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file->data()), file->size()), "original");
}

}  // namespace
}  // namespace lf
