#include "flightdeck/frame/data_frame.h"

#include <unistd.h>

#include <cstdio>

#include <filesystem>
#include <functional>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/io/file.h>
#include <gtest/gtest.h>
#include <parquet/arrow/writer.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/properties.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/frame/generate.h"
#include "unit/frame/frame_test_util.h"

namespace flightdeck::frame {
namespace {

using testing::ExpectRows;
using testing::TableFromRows;

std::shared_ptr<arrow::Table> Sales() {
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("region", arrow::utf8()),
                               arrow::field("amount", arrow::float64()),
                               arrow::field("qty", arrow::int32())});
  return TableFromRows(schema, R"([
      [1, "north", 10.0, 1],
      [2, "south", 20.0, 2],
      [3, "north", null, 3],
      [4, null, 40.0, null],
      [5, "south", 50.0, 5],
      [6, "north", 60.0, 6]])")
      .ValueOrDie();
}

std::shared_ptr<arrow::Table> Regions() {
  auto schema = arrow::schema({arrow::field("region", arrow::utf8()), arrow::field("manager", arrow::utf8())});
  return TableFromRows(schema, R"([["north", "nia"], ["east", "eve"], [null, "nobody"]])").ValueOrDie();
}

DataFrame S() { return DataFrame::FromTable(Sales()); }

// Declarative cases: a query over Sales() and its rows, order-insensitive
// unless `ordered` (sqllogictest style).
struct QueryCase {
  const char* name;
  std::function<DataFrame()> query;
  const char* rows;
  bool ordered = false;
};

class QueryTest : public ::testing::TestWithParam<QueryCase> {};

TEST_P(QueryTest, GivesExpectedRows) {
  ASSERT_OK_AND_ASSIGN(auto table, GetParam().query().Collect());
  ExpectRows(table, GetParam().rows, GetParam().ordered);
}

INSTANTIATE_TEST_SUITE_P(
    Operations, QueryTest,
    ::testing::Values(
        QueryCase{"select", [] { return S().Select({"qty", "id"}).Filter("id < 3"); },
                  "[[1, 1], [2, 2]]"},
        QueryCase{"select_exprs",
                  [] {
                    return S().Project({{"id", col("id")}, {"double", col("amount") * 2}}).Filter("id < 4");
                  },
                  "[[1, 20.0], [2, 40.0], [3, null]]"},
        QueryCase{"filter_builder", [] { return S().Filter(col("amount") * 0.5 > lit(20)).Select({"id"}); },
                  "[[5], [6]]"},
        QueryCase{"filter_nulls_are_false", [] { return S().Filter("region = 'north'").Select({"id"}); },
                  "[[1], [3], [6]]"},
        QueryCase{"with_column_adds",
                  [] { return S().WithColumn("total", "amount * qty").Select({"id", "total"}).Filter("id <= 2"); },
                  "[[1, 10.0], [2, 40.0]]"},
        QueryCase{"with_column_replaces",
                  [] { return S().WithColumn("qty", "qty + 1").Select({"id", "qty"}).Filter("id >= 4"); },
                  "[[4, null], [5, 6], [6, 7]]"},
        QueryCase{"rename",
                  [] { return S().Rename({{"id", "key"}}).Filter("key = 2").Select({"key", "region"}); },
                  R"([[2, "south"]])"},
        QueryCase{"drop", [] { return S().Drop({"region", "amount", "qty"}).Filter("id > 5"); }, "[[6]]"},
        QueryCase{"cast", [] { return S().Cast("qty", arrow::utf8()).Select({"qty"}).Filter("qty = '5'"); },
                  R"([["5"]])"},
        QueryCase{"group_by_all_aggregates",
                  [] {
                    return S().GroupBy({"region"}).Agg({Sum("amount", "s"), Mean("amount", "m"),
                                                        Min("qty", "lo"), Max("qty", "hi"),
                                                        Count("amount", "n"), CountAll("rows"),
                                                        CountDistinct("qty", "d")});
                  },
                  R"([["north", 70.0, 35.0, 1, 6, 2, 3, 3],
                      ["south", 70.0, 35.0, 2, 5, 2, 2, 2],
                      [null, 40.0, 40.0, null, null, 1, 1, 0]])"},
        QueryCase{"group_by_stddev_variance",
                  [] {
                    return S().Filter("region = 'south'").GroupBy({"region"}).Agg(
                        {Stddev("qty", "sd"), Variance("qty", "var")});
                  },
                  R"([["south", 2.1213203435596424, 4.5]])"},
        QueryCase{"first_last_in_input_order",
                  [] { return S().GroupBy({"region"}).Agg({First("amount", "f"), Last("amount", "l")}); },
                  R"([["north", 10.0, 60.0], ["south", 20.0, 50.0], [null, 40.0, 40.0]])"},
        QueryCase{"global_aggregate",
                  [] { return S().Agg({Sum("qty", "s"), CountAll("n"), Max("region", "r")}); },
                  R"([[17, 6, "south"]])"},
        QueryCase{"global_aggregate_of_empty",
                  [] { return S().Filter("id > 100").Agg({Sum("qty", "s"), CountAll("n")}); },
                  "[[null, 0]]"},
        QueryCase{"inner_join",
                  [] {
                    return S().Join(DataFrame::FromTable(Regions()), {"region"}, {"region"}).Select({"id", "manager"});
                  },
                  R"([[1, "nia"], [3, "nia"], [6, "nia"]])"},
        QueryCase{"left_join",
                  [] {
                    return S().Join(DataFrame::FromTable(Regions()), {"region"}, {"region"}, JoinKind::kLeft)
                        .Select({"id", "manager"});
                  },
                  R"([[1, "nia"], [2, null], [3, "nia"], [4, null], [5, null], [6, "nia"]])"},
        QueryCase{"right_join",
                  [] {
                    return S().Join(DataFrame::FromTable(Regions()), {"region"}, {"region"}, JoinKind::kRight)
                        .Select({"id", "region_right"});
                  },
                  R"([[1, "north"], [3, "north"], [6, "north"], [null, "east"], [null, null]])"},
        QueryCase{"full_join",
                  [] {
                    return S().Filter("id < 3")
                        .Join(DataFrame::FromTable(Regions()), {"region"}, {"region"}, JoinKind::kFull)
                        .Select({"id", "manager"});
                  },
                  R"([[1, "nia"], [2, null], [null, "eve"], [null, "nobody"]])"},
        QueryCase{"semi_join",
                  [] {
                    return S().Join(DataFrame::FromTable(Regions()), {"region"}, {"region"}, JoinKind::kSemi)
                        .Select({"id"});
                  },
                  "[[1], [3], [6]]"},
        QueryCase{"anti_join",
                  [] {
                    return S().Join(DataFrame::FromTable(Regions()), {"region"}, {"region"}, JoinKind::kAnti)
                        .Select({"id"});
                  },
                  "[[2], [4], [5]]"},
        QueryCase{"sort_nulls_last", [] { return S().Sort({Asc("amount")}).Select({"id"}); },
                  "[[1], [2], [4], [5], [6], [3]]", true},
        QueryCase{"sort_desc_nulls_first",
                  [] { return S().Sort({Desc("region", true), Asc("id")}).Select({"id"}); },
                  "[[4], [2], [5], [1], [3], [6]]", true},
        QueryCase{"sort_limit_offset", [] { return S().Sort({Desc("id")}).Limit(2, 1).Select({"id"}); },
                  "[[5], [4]]", true},
        QueryCase{"limit_zero", [] { return S().Limit(0).Select({"id"}); }, "[]", true},
        QueryCase{"distinct", [] { return S().Select({"region"}).Distinct(); },
                  R"([["north"], ["south"], [null]])"},
        QueryCase{"scalar_sub_plan_keeps_order",
                  [] {
                    return S().Filter(col("amount") > Scalar(S().Agg({Mean("amount", "m")}))).Select({"id"});
                  },
                  "[[4], [5], [6]]", true},
        QueryCase{"cross_join",
                  [] {
                    return S().Filter("id < 3").Select({"id"}).Join(S().Filter("id > 4").Select({"id"}), {}, {},
                                                                     JoinKind::kCross);
                  },
                  "[[1, 5], [1, 6], [2, 5], [2, 6]]"},
        QueryCase{"join_condition",
                  [] {
                    return S().Select({"id", "region"})
                        .Join(S().Select({"id", "region"}), {"region"}, {"region"},
                              JoinOptions{JoinKind::kSemi, "_r", Expr::Sql("id < id_r")})
                        .Select({"id"});
                  },
                  "[[1], [2], [3]]"},
        QueryCase{"sql_over_frames",
                  [] {
                    return DataFrame::Sql("select region, count(*) as n from s where region is not null group by 1",
                                          {{"s", S()}});
                  },
                  R"([["north", 3], ["south", 2]])"},
        QueryCase{"union",
                  [] { return S().Filter("id = 1").Union(S().Filter("id = 2")).Select({"id"}); },
                  "[[1], [2]]"},
        QueryCase{"empty_input_flows_through",
                  [] {
                    return S().Filter("false").WithColumn("x", "id + 1").GroupBy({"region"}).Agg({Sum("x")});
                  },
                  "[]"}),
    [](const ::testing::TestParamInfo<QueryCase>& info) { return std::string(info.param.name); });

// Bad input: a clear error naming the problem, never a crash.
struct ErrorCase {
  const char* name;
  std::function<DataFrame()> query;
  const char* message;
};

class BadInputTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(BadInputTest, FailsWithClearError) {
  DataFrame frame = GetParam().query();
  EXPECT_FALSE(frame.ok());
  auto result = frame.Collect();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), frame.status().code());
  EXPECT_NE(result.status().message().find(GetParam().message), std::string::npos)
      << result.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadInputTest,
    ::testing::Values(
        ErrorCase{"unknown_column_select", [] { return S().Select({"nope"}); },
                  "Select: unknown column 'nope'; columns: id, region, amount, qty"},
        ErrorCase{"closest_column", [] { return S().Select({"amout"}); }, "did you mean amount?"},
        ErrorCase{"unknown_column_filter", [] { return S().Filter("regoin = 'north'"); },
                  "Filter 'regoin = 'north'': unknown column 'regoin' (did you mean region?)"},
        ErrorCase{"type_mismatch", [] { return S().Filter("region > 1"); }, "Filter"},
        ErrorCase{"not_boolean", [] { return S().Filter("id + 1"); }, "bool"},
        ErrorCase{"malformed", [] { return S().Filter("id >"); }, "the expression ends too early"},
        ErrorCase{"unbalanced", [] { return S().Filter("(id > 1"); }, "at position 1: '(' is never closed"},
        ErrorCase{"second_statement", [] { return S().Filter("id > 1; drop table t"); },
                  "';' would end the statement"},
        ErrorCase{"comment", [] { return S().Filter("id > 1 -- and more"); }, "comments are not allowed"},
        ErrorCase{"unknown_function", [] { return S().WithColumn("x", "frobnicate(id)"); },
                  "frobnicate does not exist"},
        ErrorCase{"unknown_aggregate", [] { return S().Agg({Aggregation{"frobnicate", "id", "m"}}); },
                  "Agg: unknown aggregate function 'frobnicate'"},
        ErrorCase{"duplicate_output", [] { return S().Agg({Sum("id", "x"), Max("id", "x")}); },
                  "two output columns named 'x'"},
        ErrorCase{"cross_join_keys", [] { return S().Join(S(), {"id"}, {"id"}, JoinKind::kCross); },
                  "a cross join takes no keys"},
        ErrorCase{"scalar_columns", [] { return S().Filter(col("id") > Scalar(S())); },
                  "a scalar sub-plan has one"},
        ErrorCase{"cast_to_a_type_the_engine_lacks", [] { return S().Cast("region", arrow::large_utf8()); },
                  "cannot cast to large_string (it would give string); cast to string instead"},
        ErrorCase{"suffix_collision",
                  [] { return S().Rename({{"qty", "id_right"}}).Join(S(), {"id"}, {"id"}); },
                  "the right column 'id' would be named 'id_right', which is taken"},
        ErrorCase{"aggregate_type", [] { return S().Agg({Sum("region")}); }, "Agg"},
        ErrorCase{"join_key", [] { return S().Join(S(), {"id"}, {"zz"}); }, "Join (right key)"},
        ErrorCase{"join_key_types", [] { return S().Join(S(), {"id"}, {"region"}); },
                  "Join: key 'id' (int64) cannot match key 'region' (string)"},
        ErrorCase{"sort_column", [] { return S().Sort({Asc("zz")}); }, "Sort: unknown column 'zz'"},
        ErrorCase{"union_schema", [] { return S().Union(S().Select({"id"})); }, "Union: schemas differ"},
        ErrorCase{"negative_limit", [] { return S().Limit(-1); }, "Limit"},
        ErrorCase{"first_error_wins",
                  [] { return S().Select({"nope"}).Filter("also bad >").Sort({Asc("x")}); },
                  "unknown column 'nope'"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return std::string(info.param.name); });

TEST(DataFrameTest, ExecutionErrorsComeFromTheSink) {
  // Casting 'north' to an integer fails only when the data is seen.
  auto frame = DataFrame::FromTable(Sales()).WithColumn("a", "region::int64");
  ASSERT_TRUE(frame.ok());
  ASSERT_RAISES(Invalid, frame.Collect());
}

TEST(DataFrameTest, IsLazyAndImmutable) {
  DataFrame base = S();
  DataFrame filtered = base.Filter("id > 3");
  ASSERT_OK_AND_ASSIGN(auto all, base.Collect());
  ASSERT_OK_AND_ASSIGN(auto some, filtered.Collect());
  EXPECT_EQ(all->num_rows(), 6);
  EXPECT_EQ(some->num_rows(), 3);
  ASSERT_OK_AND_ASSIGN(auto schema, filtered.WithColumn("z", "id * 2").schema());
  EXPECT_EQ(schema->field(4)->name(), "z");
  EXPECT_TRUE(schema->field(4)->type()->Equals(arrow::int64()));
}

TEST(DataFrameTest, EmptyTablesThroughEveryOperation) {
  ASSERT_OK_AND_ASSIGN(auto empty, TableFromRows(Sales()->schema(), "[]"));
  ASSERT_EQ(empty->num_rows(), 0);
  DataFrame e = DataFrame::FromTable(empty);
  std::vector<DataFrame> frames = {
      e.Filter("amount > 1"), e.WithColumn("x", "qty * 2"), e.Sort({Desc("amount", true)}),
      e.GroupBy({"region"}).Agg({Sum("amount"), Stddev("qty"), CountDistinct("id")}), e.Distinct(),
      e.Join(S(), {"id"}, {"id"}, JoinKind::kFull), S().Join(e, {"id"}, {"id"}, JoinKind::kAnti),
      e.Limit(3), e.Union(e), e.Agg({Mean("amount", "m"), CountAll("n")})};
  const std::vector<int64_t> expected_rows = {0, 0, 0, 0, 0, 6, 6, 0, 0, 1};
  for (size_t i = 0; i < frames.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(auto table, frames[i].Collect());
    EXPECT_EQ(table->num_rows(), expected_rows[i]) << i;
  }
}

TEST(DataFrameTest, ReaderSourceIsSingleUse) {
  auto reader = std::make_shared<arrow::TableBatchReader>(Sales());
  DataFrame frame = DataFrame::FromReader(reader).Filter("id > 1");
  ASSERT_OK_AND_ASSIGN(auto table, frame.Collect());
  EXPECT_EQ(table->num_rows(), 5);
  ASSERT_RAISES(Invalid, frame.Collect());
}

TEST(DataFrameTest, LongAndWideTables) {
  ASSERT_OK_AND_ASSIGN(auto orders, GenerateOrders({.rows = 300'000, .batch_rows = 7'000, .seed = 3}));
  auto frame = DataFrame::FromTable(orders);
  ASSERT_OK_AND_ASSIGN(auto counted, frame.Agg({CountAll("n"), Count("amount", "valid")}).Collect());
  const int64_t valid = orders->num_rows() - orders->GetColumnByName("amount")->null_count();
  EXPECT_EQ(counted->GetColumnByName("n")->GetScalar(0).ValueOrDie()->ToString(), "300000");
  EXPECT_EQ(counted->GetColumnByName("valid")->GetScalar(0).ValueOrDie()->ToString(), std::to_string(valid));
  ASSERT_OK_AND_ASSIGN(auto distinct_ids, frame.Select({"id"}).Distinct().Collect());
  EXPECT_EQ(distinct_ids->num_rows(), 300'000);

  // 300 columns, derived from one another.
  DataFrame wide = DataFrame::FromTable(Sales());
  for (int i = 0; i < 300; ++i) {
    wide = wide.WithColumn("c" + std::to_string(i), i == 0 ? "id" : "c" + std::to_string(i - 1) + " + 1");
  }
  ASSERT_OK_AND_ASSIGN(auto table, wide.Sort({Asc("id")}).Collect());
  EXPECT_EQ(table->num_columns(), 304);
  ExpectRows(table->SelectColumns({303}).ValueOrDie(), "[[300], [301], [302], [303], [304], [305]]", true);
}

TEST(DataFrameTest, StreamYieldsBatches) {
  ASSERT_OK_AND_ASSIGN(auto orders, GenerateOrders({.rows = 100'000, .batch_rows = 10'000}));
  ASSERT_OK_AND_ASSIGN(auto reader, DataFrame::FromTable(orders).Filter("customer >= 0").Stream());
  int64_t rows = 0, batches = 0;
  for (auto batch : *reader) {
    ASSERT_OK(batch.status());
    rows += (*batch)->num_rows();
    ++batches;
  }
  EXPECT_EQ(rows, 100'000);
  EXPECT_GE(batches, 2);
}

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::flightdeck::testing::FreshTestDir("fd-frame-test");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  // Writes `table` to the Parquet file `path` in row groups of `chunk_size` rows.
  static arrow::Status WriteParquet(const arrow::Table& table, const std::string& path, int64_t chunk_size,
                                    std::shared_ptr<parquet::WriterProperties> properties =
                                        parquet::default_writer_properties()) {
    ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::FileOutputStream::Open(path));
    ARROW_RETURN_NOT_OK(
        parquet::arrow::WriteTable(table, arrow::default_memory_pool(), sink, chunk_size, std::move(properties)));
    return sink->Close();
  }
  std::filesystem::path dir_;
};

TEST_F(FileTest, FilesRoundTripInEveryFormat) {
  for (FileFormat format : {FileFormat::kParquet, FileFormat::kIpc, FileFormat::kCsv}) {
    const std::string path = Path("sales." + std::to_string(static_cast<int>(format)));
    ASSERT_OK(S().Filter("id <= 4").WriteFile(path, format));
    ASSERT_OK_AND_ASSIGN(auto back, DataFrame::Read(path, format));
    ASSERT_OK_AND_ASSIGN(auto table, back.Filter("qty is not null").Select({"id", "region"}).Collect());
    ExpectRows(table, R"([[1, "north"], [2, "south"], [3, "north"]])");
  }
  // Nothing but the three files: no temporaries left.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 3);
}

TEST_F(FileTest, PartitionedDatasetWithPushdown) {
  ASSERT_OK_AND_ASSIGN(auto orders, GenerateOrders({.rows = 50'000, .batch_rows = 5'000, .seed = 9}));
  const std::string dir = Path("orders");
  ASSERT_OK(DataFrame::FromTable(orders).WriteDataset(
      dir, {.format = FileFormat::kParquet, .partition_by = {"category"}, .max_rows_per_file = 4'000}));
  EXPECT_TRUE(std::filesystem::exists(dir + "/category=books"));
  ASSERT_RAISES(AlreadyExists, DataFrame::FromTable(orders).WriteDataset(dir, {}));

  ASSERT_OK_AND_ASSIGN(auto frame, DataFrame::Read(dir, FileFormat::kParquet));
  auto query = frame.Filter("category = 'books' and amount > 50").Agg({CountAll("n"), Sum("amount", "s")});
  // The engine reads the partitions the filter keeps and the columns used,
  // with the filter pushed into the scan.
  ASSERT_OK_AND_ASSIGN(auto plan, query.Explain());
  const std::string engine_plan = plan.substr(plan.find("Engine plan"));
  EXPECT_NE(engine_plan.find("READ_PARQUET"), std::string::npos) << plan;
  EXPECT_NE(engine_plan.find("Filters:"), std::string::npos) << plan;
  EXPECT_NE(engine_plan.find("Scanning Files: 2/"), std::string::npos) << plan;
  // Columns computed but never read are not computed.
  ASSERT_OK_AND_ASSIGN(auto pruned, frame.WithColumn("eur", "amount * 0.92")
                                        .WithColumn("unused", "upper(category)")
                                        .Filter("customer > 10")
                                        .Agg({Sum("eur")})
                                        .Explain());
  EXPECT_EQ(pruned.substr(pruned.find("Engine plan")).find("upper"), std::string::npos) << pruned;
  ASSERT_OK_AND_ASSIGN(auto got, query.Collect());
  ASSERT_OK_AND_ASSIGN(auto want, DataFrame::FromTable(orders)
                                      .Filter("category = 'books' and amount > 50")
                                      .Agg({CountAll("n"), Sum("amount", "s")})
                                      .Collect());
  EXPECT_EQ(got->column(0)->GetScalar(0).ValueOrDie()->ToString(),
            want->column(0)->GetScalar(0).ValueOrDie()->ToString());
  EXPECT_NEAR(std::static_pointer_cast<arrow::DoubleScalar>(got->column(1)->GetScalar(0).ValueOrDie())->value,
              std::static_pointer_cast<arrow::DoubleScalar>(want->column(1)->GetScalar(0).ValueOrDie())->value,
              1e-6);
}

TEST_F(FileTest, LimitOverScansAndUnorderedInputs) {
  ASSERT_OK_AND_ASSIGN(auto orders, GenerateOrders({.rows = 30'000, .batch_rows = 1'000, .seed = 4}));
  const std::string path = Path("orders.parquet");
  ASSERT_OK(DataFrame::FromTable(orders).WriteFile(path, FileFormat::kParquet));
  ASSERT_OK_AND_ASSIGN(auto frame, DataFrame::Read(path, FileFormat::kParquet));
  // Over a file: the first rows of the file, in order.
  ASSERT_OK_AND_ASSIGN(auto head, frame.Limit(3, 2).Select({"id"}).Collect());
  ExpectRows(head, "[[2], [3], [4]]", true);
  // Over aggregates, unions and joins (no order): the right number of rows.
  ASSERT_OK_AND_ASSIGN(auto groups, frame.GroupBy({"customer"}).Agg({CountAll("n")}).Limit(5).Collect());
  EXPECT_EQ(groups->num_rows(), 5);
  ASSERT_OK_AND_ASSIGN(auto some, frame.Union(frame).Distinct().Limit(7, 3).Collect());
  EXPECT_EQ(some->num_rows(), 7);
  ASSERT_OK_AND_ASSIGN(auto joined, frame.Join(frame, {"id"}, {"id"}).Limit(0).Collect());
  EXPECT_EQ(joined->num_rows(), 0);
  ASSERT_OK_AND_ASSIGN(auto plan, frame.Distinct().Limit(1).Explain());
  EXPECT_NE(plan.find("Limit 1\n  Distinct\n"), std::string::npos) << plan;
}

TEST_F(FileTest, DictionaryEncodedStringsReadAsPlainStrings) {
  // Many row groups, each with its own dictionary (categories in a
  // different first-seen order); "note" is stored without a dictionary.
  ASSERT_OK_AND_ASSIGN(auto orders, GenerateOrders({.rows = 20'000, .batch_rows = 1'000, .seed = 5}));
  ASSERT_OK_AND_ASSIGN(auto with_note,
                       DataFrame::FromTable(orders).WithColumn("note", "cast(id as string)").Collect());
  const std::string path = Path("dictionary.parquet");
  auto properties = parquet::WriterProperties::Builder().disable_dictionary("note")->build();
  ASSERT_OK(WriteParquet(*with_note, path, /*chunk_size=*/997, properties));

  ASSERT_OK_AND_ASSIGN(auto frame, DataFrame::Read(path, FileFormat::kParquet));
  ASSERT_OK_AND_ASSIGN(auto schema, frame.schema());
  EXPECT_TRUE(schema->GetFieldByName("category")->type()->Equals(arrow::utf8()));
  // Same answers as the in-memory table: rows, filters and groups.
  ASSERT_OK_AND_ASSIGN(auto rows, frame.Select({"id", "category", "note"}).Collect());
  ASSERT_OK_AND_ASSIGN(auto want_rows, DataFrame::FromTable(with_note).Select({"id", "category", "note"}).Collect());
  EXPECT_TRUE(rows->CombineChunks().ValueOrDie()->Equals(*want_rows->CombineChunks().ValueOrDie()));
  auto query = [](DataFrame f) {
    return f.Filter("category != 'books' and note != '7'").GroupBy({"category"}).Agg({CountAll("n")});
  };
  ASSERT_OK_AND_ASSIGN(auto got, query(frame).Collect());
  ASSERT_OK_AND_ASSIGN(auto want, query(DataFrame::FromTable(with_note)).Collect());
  ASSERT_OK_AND_ASSIGN(auto got_sorted, testing::Canonical(got));
  ASSERT_OK_AND_ASSIGN(auto want_sorted, testing::Canonical(want));
  EXPECT_TRUE(got_sorted->Equals(*want_sorted)) << got_sorted->ToString() << want_sorted->ToString();
  EXPECT_GE(got->num_rows(), 2);
}

TEST_F(FileTest, ParquetAggregatesMatchTheInMemoryTable) {
  // The same queries over a Parquet file the engine reads and over the
  // in-memory table it scans as Arrow: equal answers and types. Many row
  // groups, each with its own category dictionary.
  ASSERT_OK_AND_ASSIGN(auto orders, GenerateOrders({.rows = 40'000, .batch_rows = 1'000, .seed = 11}));
  const std::string path = Path("fused.parquet");
  ASSERT_OK(WriteParquet(*orders, path, /*chunk_size=*/3'001));
  ASSERT_OK_AND_ASSIGN(auto file, DataFrame::Read(path, FileFormat::kParquet));
  const std::vector<Aggregation> aggs = {Sum("net", "s"), Mean("amount", "m"), Count("amount", "c"),
                                         CountAll("n"), Sum("customer", "sc"), Mean("customer", "mc")};
  std::vector<std::pair<std::string, std::function<DataFrame(DataFrame)>>> queries = {
      {"string keys",
       [&](DataFrame f) {
         return f.Filter("amount > 100").WithColumn("net", "amount * 0.8 - 1").GroupBy({"category"}).Agg(aggs);
       }},
      {"integer keys, or",
       [&](DataFrame f) {
         return f.WithColumn("net", "amount + customer").Filter("customer > 20 or amount is null")
             .GroupBy({"customer"}).Agg(aggs);
       }},
      {"no keys, string count",
       [&](DataFrame f) {
         auto with_category = aggs;
         with_category.push_back(Count("category", "cc"));  // a string column: counted
         return f.WithColumn("net", "-amount").Filter("amount < 5").Agg(with_category);
       }},
      {"no rows pass",
       [&](DataFrame f) { return f.WithColumn("net", "amount").Filter("amount < -1").Agg(aggs); }},
  };
  for (const auto& [name, query] : queries) {
    SCOPED_TRACE(name);
    ASSERT_OK_AND_ASSIGN(auto got, query(file).Collect());
    ASSERT_OK_AND_ASSIGN(auto want, query(DataFrame::FromTable(orders)).Collect());
    ASSERT_TRUE(got->schema()->Equals(*want->schema())) << got->schema()->ToString();
    ASSERT_OK_AND_ASSIGN(auto got_sorted, testing::Canonical(got));
    ASSERT_OK_AND_ASSIGN(auto want_sorted, testing::Canonical(want));
    ASSERT_EQ(got_sorted->num_rows(), want_sorted->num_rows());
    for (int c = 0; c < got_sorted->num_columns(); ++c) {
      EXPECT_TRUE(got_sorted->column(c)->ApproxEquals(*want_sorted->column(c),
                                                      arrow::EqualOptions::Defaults().atol(1e-3).nans_equal(true)))
          << got_sorted->field(c)->name() << "\n" << got_sorted->ToString() << want_sorted->ToString();
    }
  }
}

TEST_F(FileTest, CorruptColumnChunkIsAnErrorNamingTheFile) {
  // A column chunk overwritten with garbage must give an error naming the
  // file, not a crash or a wrong answer.
  ASSERT_OK_AND_ASSIGN(auto orders, GenerateOrders({.rows = 20'000, .batch_rows = 1'000, .seed = 5}));
  const std::string path = Path("corrupt.parquet");
  ASSERT_OK(WriteParquet(*orders, path, /*chunk_size=*/5'000));
  auto query = [&] {
    return DataFrame::Read(path, FileFormat::kParquet)
        .ValueOrDie()
        .Filter("amount > 10")
        .Agg({Sum("amount", "s"), CountAll("n")});
  };
  ASSERT_OK(query().Collect().status());

  // Overwrite row group 2's amount chunk (page header and data) with 0xff.
  ASSERT_OK_AND_ASSIGN(auto input, arrow::io::ReadableFile::Open(path));
  auto reader = parquet::ParquetFileReader::Open(input);
  const auto metadata = reader->metadata();
  const int column = metadata->schema()->ColumnIndex("amount");
  ASSERT_GE(column, 0);
  ASSERT_GE(metadata->num_row_groups(), 3);
  const auto chunk = metadata->RowGroup(2)->ColumnChunk(column);
  const int64_t start = chunk->has_dictionary_page() ? chunk->dictionary_page_offset() : chunk->data_page_offset();
  const int64_t length = chunk->total_compressed_size();
  reader.reset();
  ASSERT_OK(input->Close());
  {
    std::FILE* file = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(file, nullptr);
    ASSERT_EQ(std::fseek(file, start, SEEK_SET), 0);
    const std::string garbage(static_cast<size_t>(length), '\xff');
    ASSERT_EQ(std::fwrite(garbage.data(), 1, garbage.size(), file), garbage.size());
    std::fclose(file);
  }
  auto result = query().Collect();
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.status().IsIOError() || result.status().IsInvalid()) << result.status();
  EXPECT_NE(result.status().message().find("corrupt.parquet"), std::string::npos) << result.status();
}

TEST_F(FileTest, ReadErrors) {
  ASSERT_RAISES(IOError, DataFrame::Read(Path("missing.parquet"), FileFormat::kParquet));
  ASSERT_OK(S().WriteFile(Path("x.csv"), FileFormat::kCsv));
  ASSERT_RAISES(Invalid, DataFrame::Read(Path("x.csv"), FileFormat::kParquet));
  ASSERT_RAISES(Invalid, ParseFileFormat("xlsx"));
}

TEST(DataFrameTest, JoinChainsLowerToOneFromClause) {
  // DuckDB 1.5 orders joins only within one FROM clause: a chain of inner
  // and left joins, with filters between them, lowers to one.
  auto regions = DataFrame::FromTable(Regions());
  auto chain = S().Join(regions, {"region"}, {"region"})
                   .Filter("amount > 5")
                   .Join(regions.Rename({{"manager", "boss"}}), {"region"}, {"region"}, JoinKind::kLeft, "_2")
                   .Select({"id", "manager", "boss"});
  ASSERT_OK_AND_ASSIGN(auto sql, chain.ToSql());
  EXPECT_EQ(sql.find("\"fd_l\""), std::string::npos) << sql;  // the nested form's alias
  EXPECT_NE(sql.find("INNER JOIN"), std::string::npos) << sql;
  EXPECT_NE(sql.find("LEFT JOIN"), std::string::npos) << sql;
  EXPECT_NE(sql.find("WHERE"), std::string::npos) << sql;
  ASSERT_OK_AND_ASSIGN(auto table, chain.Collect());
  ExpectRows(table, R"([[1, "nia", "nia"], [6, "nia", "nia"]])");
}

TEST(DataFrameTest, ASubPlanReadTwiceIsComputedOnce) {
  auto big = S().Filter("amount > 15").WithColumn("twice", "amount * 2");
  auto both = big.Join(big.Select({"id", "twice"}), {"id"}, {"id"}).Filter(col("twice") > Scalar(big.Agg({Min("twice", "m")})));
  ASSERT_OK_AND_ASSIGN(auto sql, both.ToSql());
  size_t scans = 0;
  for (size_t at = sql.find("fd_arrow_scan("); at != std::string::npos; at = sql.find("fd_arrow_scan(", at + 1)) ++scans;
  EXPECT_EQ(scans, 1u) << sql;
  EXPECT_NE(sql.find("AS MATERIALIZED"), std::string::npos) << sql;
  ASSERT_OK_AND_ASSIGN(auto table, both.Select({"id"}).Collect());
  ExpectRows(table, "[[4], [5], [6]]");
}

TEST(DataFrameTest, PlansThatShareSubPlansLowerInLinearSize) {
  // 2^25 paths from the root to the source, 26 distinct nodes.
  DataFrame x = S().Filter("id = 1");
  for (int i = 0; i < 25; ++i) x = x.Union(x);
  ASSERT_OK_AND_ASSIGN(auto sql, x.ToSql());
  EXPECT_LT(sql.size(), 20'000u);
  DataFrame small = S().Filter("id = 1");
  for (int i = 0; i < 4; ++i) small = small.Union(small);
  ASSERT_OK_AND_ASSIGN(auto table, small.Collect());
  EXPECT_EQ(table->num_rows(), 16);
}

TEST(DataFrameTest, ExplainShowsThePlan) {
  ASSERT_OK_AND_ASSIGN(auto text, S().Filter("amount > 1").GroupBy({"region"}).Agg({Sum("amount", "t")})
                                      .Sort({Desc("t")}).Limit(1).Explain());
  EXPECT_NE(text.find("Limit 1\n  Sort t DESC NULLS LAST\n    Aggregate keys=[region] sum(amount) AS t\n"
                      "      Filter amount > 1\n        Table rows=6 columns=4\n"),
            std::string::npos)
      << text;
  // Then the engine's plan of the one statement.
  EXPECT_NE(text.find("Engine plan"), std::string::npos) << text;
  EXPECT_NE(text.find("TOP_N"), std::string::npos) << text;
}

TEST(AggregationTextTest, FunctionOfColumnAsSpecsAndPlansWriteIt) {
  ASSERT_OK_AND_ASSIGN(auto sum, ParseAggregation("total", " sum( amount ) "));
  EXPECT_EQ(sum.function, "sum");
  EXPECT_EQ(sum.column, "amount");
  EXPECT_EQ(sum.name, "total");
  for (const char* all : {"count(*)", "count()"}) {
    ASSERT_OK_AND_ASSIGN(auto counted, ParseAggregation("n", all));
    EXPECT_EQ(counted.function, "count_all") << all;
  }
  ASSERT_OK_AND_ASSIGN(auto median, ParseAggregation("m", "median(x)"));
  EXPECT_EQ(median.function, "median");
  for (const char* bad : {"sum", "sum(a, b)", "sum(a + 1)", "(a)", "sum()"}) {
    auto parsed = ParseAggregation("bad", bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_TRUE(parsed.status().IsInvalid()) << bad;
    EXPECT_NE(parsed.status().message().find("aggregate 'bad'"), std::string::npos) << parsed.status().ToString();
  }
}

}  // namespace
}  // namespace flightdeck::frame
