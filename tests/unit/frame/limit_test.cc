// Limit's ordering contract (data_frame.h): over ordered inputs it keeps the
// first rows in input order, every time; over unordered ones, the right
// number of rows. Each ordered case runs repeatedly, multi-threaded, over
// many small batches, so that an order depending on thread timing shows.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/frame/data_frame.h"
#include "flightdeck/frame/generate.h"

namespace flightdeck::frame {
namespace {

constexpr int kRepeats = 15;

// Orders whose id is the row number, in batches of 97 rows.
std::shared_ptr<arrow::Table> Orders(int64_t rows = 20'000) {
  return GenerateOrders({.rows = rows, .batch_rows = 97, .seed = 11}).ValueOrDie();
}

std::vector<int64_t> Ids(const std::shared_ptr<arrow::Table>& table) {
  std::vector<int64_t> ids;
  auto column = table->GetColumnByName("id");
  for (const auto& chunk : column->chunks()) {
    auto values = std::static_pointer_cast<arrow::Int64Array>(chunk);
    for (int64_t i = 0; i < values->length(); ++i) ids.push_back(values->Value(i));
  }
  return ids;
}

std::vector<int64_t> Range(int64_t from, int64_t count, int64_t step = 1) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < count; ++i) out.push_back(from + i * step);
  return out;
}

// Collects `frame` kRepeats times; every run must give `expected` ids.
void ExpectIdsEveryTime(const std::function<DataFrame()>& frame, const std::vector<int64_t>& expected) {
  for (int run = 0; run < kRepeats; ++run) {
    ASSERT_OK_AND_ASSIGN(auto table, frame().Collect());
    ASSERT_EQ(Ids(table), expected) << "run " << run;
  }
}

TEST(LimitTest, TableSourceKeepsTheFirstRowsAcrossBatches) {
  auto orders = Orders();
  ExpectIdsEveryTime([&] { return DataFrame::FromTable(orders).Limit(250, 90); }, Range(90, 250));
  // Through filters and projections, still in source order.
  ExpectIdsEveryTime(
      [&] {
        return DataFrame::FromTable(orders)
            .Filter("id < 100 or id >= 5000")
            .WithColumn("twice", "id * 2")
            .Limit(40, 90);
      },
      [] {
        auto ids = Range(90, 10);
        for (int64_t id : Range(5'000, 30)) ids.push_back(id);
        return ids;
      }());
  // A Limit of a Limit.
  ExpectIdsEveryTime([&] { return DataFrame::FromTable(orders).Limit(500, 100).Limit(30, 450); },
                     Range(550, 30));
  // Past the end: what there is.
  ExpectIdsEveryTime([&] { return DataFrame::FromTable(orders).Limit(100, 19'950); }, Range(19'950, 50));
}

TEST(LimitTest, StreamKeepsSourceOrder) {
  auto orders = Orders();
  for (int run = 0; run < kRepeats; ++run) {
    ASSERT_OK_AND_ASSIGN(auto reader, DataFrame::FromTable(orders).Filter("id >= 1000").Limit(3000).Stream());
    ASSERT_OK_AND_ASSIGN(auto table, reader->ToTable());
    ASSERT_EQ(Ids(table), Range(1000, 3000)) << "run " << run;
  }
}

TEST(LimitTest, ReaderSourceKeepsTheFirstRows) {
  auto orders = Orders();
  ExpectIdsEveryTime(
      [&] {
        return DataFrame::FromReader(std::make_shared<arrow::TableBatchReader>(orders))
            .Filter("id >= 20")
            .Limit(100, 10);
      },
      Range(30, 100));
}

TEST(LimitTest, SortThenLimitKeepsSortOrder) {
  auto orders = Orders();
  ExpectIdsEveryTime([&] { return DataFrame::FromTable(orders).Sort({Desc("id")}).Limit(5, 2); },
                     {19'997, 19'996, 19'995, 19'994, 19'993});
}

TEST(LimitTest, UnorderedInputsGiveTheRightNumberOfRows) {
  auto orders = DataFrame::FromTable(Orders());
  ASSERT_OK_AND_ASSIGN(auto groups, orders.GroupBy({"customer"}).Agg({CountAll("n")}).Limit(7, 3).Collect());
  EXPECT_EQ(groups->num_rows(), 7);
  ASSERT_OK_AND_ASSIGN(auto joined, orders.Join(orders.Select({"id"}), {"id"}, {"id"}).Limit(11).Collect());
  EXPECT_EQ(joined->num_rows(), 11);
  ASSERT_OK_AND_ASSIGN(auto distinct, orders.Select({"customer"}).Distinct().Limit(4).Collect());
  EXPECT_EQ(distinct->num_rows(), 4);
  ASSERT_OK_AND_ASSIGN(auto both, orders.Filter("id < 300").Union(orders.Filter("id >= 19900")).Limit(350, 20)
                                      .Collect());
  EXPECT_EQ(both->num_rows(), 350);
  // One aggregate row: the offset skips it.
  ASSERT_OK_AND_ASSIGN(auto none, orders.Agg({CountAll("n")}).Limit(1, 1).Collect());
  EXPECT_EQ(none->num_rows(), 0);
}

class LimitFileTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = ::flightdeck::testing::FreshTestDir("fd-limit-test"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(LimitFileTest, ParquetFilesKeepFileOrder) {
  auto orders = Orders(30'000);
  // One file of many row groups, and a directory of three files whose
  // names sort in row order.
  const std::string file = Path("orders.parquet");
  ASSERT_OK(DataFrame::FromTable(orders).WriteFile(file, FileFormat::kParquet));
  const std::string dir = Path("parts");
  std::filesystem::create_directories(dir);
  for (int part = 0; part < 3; ++part) {
    ASSERT_OK(DataFrame::FromTable(orders)
                  .Filter("id >= " + std::to_string(part * 10'000) + " and id < " +
                          std::to_string((part + 1) * 10'000))
                  .WriteFile(dir + "/part-" + std::to_string(part) + ".parquet", FileFormat::kParquet));
  }
  // The first 50 ids whose customer is below 300, by hand.
  std::vector<int64_t> want;
  ASSERT_OK_AND_ASSIGN(auto combined, orders->CombineChunks());
  auto id_values = std::static_pointer_cast<arrow::Int64Array>(combined->GetColumnByName("id")->chunk(0));
  auto customer_values =
      std::static_pointer_cast<arrow::Int64Array>(combined->GetColumnByName("customer")->chunk(0));
  for (int64_t i = 0; i < combined->num_rows() && want.size() < 50; ++i) {
    if (customer_values->IsValid(i) && customer_values->Value(i) < 300) want.push_back(id_values->Value(i));
  }
  ASSERT_EQ(want.size(), 50u);
  for (const std::string& path : {file, dir}) {
    SCOPED_TRACE(path);
    ASSERT_OK_AND_ASSIGN(auto frame, DataFrame::Read(path, FileFormat::kParquet));
    ExpectIdsEveryTime([&] { return frame.Limit(300, 9'900); }, Range(9'900, 300));
    ExpectIdsEveryTime([&] { return frame.Filter("customer < 300").Select({"id", "customer"}).Limit(50); },
                       want);
  }
}

}  // namespace
}  // namespace flightdeck::frame
