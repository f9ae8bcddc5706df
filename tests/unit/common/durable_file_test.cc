#include "flightdeck/common/durable_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class DurableFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fd-durable-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  size_t Entries() const {
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }

  fs::path dir_;
};

TEST_F(DurableFileTest, WritesAndReplacesAtomicallyLeavingNoTemporary) {
  const fs::path path = dir_ / "_SUCCESS";
  ASSERT_OK(WriteFileAtomically(path.string(), "run-1\n"));
  EXPECT_EQ(Read(path), "run-1\n");
  ASSERT_OK(WriteFileAtomically(path.string(), std::string(1 << 20, 'x')));
  EXPECT_EQ(fs::file_size(path), 1u << 20);
  EXPECT_EQ(Entries(), 1u);
}

TEST_F(DurableFileTest, AFailedWriteLeavesTheOldFileAndNoTemporary) {
  const fs::path path = dir_ / "marker";
  ASSERT_OK(WriteFileAtomically(path.string(), "old"));
  // A directory where the file should go: the rename fails.
  const fs::path blocked = dir_ / "blocked";
  fs::create_directories(blocked / "child");
  auto status = WriteFileAtomically(blocked.string(), "new");
  ASSERT_RAISES(IOError, status);
  EXPECT_NE(status.message().find("blocked"), std::string::npos) << status.ToString();
  EXPECT_EQ(Read(path), "old");
  EXPECT_EQ(Entries(), 2u);  // marker and blocked, no temporary

  ASSERT_RAISES(IOError, WriteFileAtomically((dir_ / "missing" / "file").string(), "x"));
}

TEST_F(DurableFileTest, RenamesFilesAndFoldersAcrossDirectories) {
  fs::create_directories(dir_ / "a" / "tree" / "deep");
  std::ofstream(dir_ / "a" / "tree" / "deep" / "part-0.parquet") << "parquet";
  ASSERT_OK(SyncTree((dir_ / "a" / "tree").string()));
  fs::create_directories(dir_ / "b");
  ASSERT_OK(RenameDurably((dir_ / "a" / "tree").string(), (dir_ / "b" / "published").string()));
  EXPECT_EQ(Read(dir_ / "b" / "published" / "deep" / "part-0.parquet"), "parquet");
  EXPECT_FALSE(fs::exists(dir_ / "a" / "tree"));
  auto missing = RenameDurably((dir_ / "nothing").string(), (dir_ / "b" / "x").string());
  ASSERT_RAISES(IOError, missing);
  EXPECT_NE(missing.message().find("nothing"), std::string::npos) << missing.ToString();
}

TEST_F(DurableFileTest, TemporarySiblingsAreHiddenDistinctAndBesideThePath) {
  const std::string path = (dir_ / "out.parquet").string();
  const std::string a = TemporarySibling(path);
  const std::string b = TemporarySibling(path);
  EXPECT_NE(a, b);
  EXPECT_EQ(fs::path(a).parent_path(), dir_);
  EXPECT_EQ(fs::path(a).filename().string().rfind(".out.parquet.tmp-", 0), 0u) << a;
}

}  // namespace
}  // namespace flightdeck
