// CheckSpec on real files: every mistake a spec can hold is found before
// the run, named in words, and pointed at (line, column, caret) in the spec.
#include "flightdeck/pipeline/spec_check.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/frame/data_frame.h"
#include "flightdeck/frame/generate.h"

namespace flightdeck::pipeline {
namespace {

namespace fs = std::filesystem;

// One bad spec: its source, stages and sink lines ("DIR" is the test's
// folder), the text the caret must point at, and words of the reason.
struct BadSpec {
  std::string stages;
  std::string token;
  std::vector<std::string> reason;
  std::string source = "parquet: DIR/orders.parquet";
  std::string sink = "parquet: DIR/out";
};

class SpecCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = flightdeck::testing::FreshTestDir("fd-spec-check");
    ASSERT_OK_AND_ASSIGN(auto orders, frame::GenerateOrders({.rows = 100}));
    ASSERT_OK(frame::DataFrame::FromTable(orders).WriteFile((dir_ / "orders.parquet").string(),
                                                            frame::FileFormat::kParquet));
    std::ofstream(dir_ / "customers.csv") << "id,name,segment\n1,ann,retail\n2,bob,online\n";
    std::ofstream(dir_ / "a-file") << "not a folder\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Text(const BadSpec& bad) const {
    std::string text = "name: bad\nsource:\n  " + bad.source + "\nstages:\n" + bad.stages + "sink:\n  " +
                       bad.sink + "\nnodes: [grpc+tcp://127.0.0.1:1]\n";
    return std::regex_replace(text, std::regex("DIR"), dir_.string());
  }

  fs::path dir_;
};

// The message's "spec.yaml:LINE:COL: " place, the spec line it repeats and
// the caret under COL.
void ExpectPointsAt(const std::string& text, const std::string& message, const std::string& token) {
  static const std::regex kPlace(R"(^spec\.yaml:(\d+):(\d+): )");
  std::smatch place;
  ASSERT_TRUE(std::regex_search(message, place, kPlace)) << message;
  const int line = std::stoi(place[1].str());
  const size_t column = std::stoul(place[2].str());
  std::istringstream lines(text);
  std::string written;
  for (int i = 0; i < line; ++i) std::getline(lines, written);
  ASSERT_GE(column, 1u);
  EXPECT_EQ(written.substr(column - 1, token.size()), token) << "points at line " << line << " column " << column
                                                             << " of:\n" << text << "\nmessage:\n" << message;
  // The line, then the caret under the column.
  const std::string shown = "\n" + written + "\n" + std::string(column - 1, ' ') + "^";
  EXPECT_NE(message.find(shown), std::string::npos) << message;
}

TEST_F(SpecCheckTest, EveryMistakeIsNamedAndPointedAt) {
  const std::vector<BadSpec> cases = {
      // Expressions: syntax, columns, types, functions.
      {"  - filter: \"amount >> 10 and\"\n", "\"", {"ends too early"}},
      {"  - filter: \"amont > 10\"\n", "amont", {"unknown column 'amont'", "did you mean amount"}},
      {"  - filter: \"amount > 10)\"\n", ")", {"closes nothing"}},
      {"  - filter: \"amount > 10; select 1\"\n", ";", {";"}},
      {"  - filter: \"amount + 1\"\n", "amount", {"not boolean"}},
      // The frame-query stages a spec has too.
      {"  - drop: [amont]\n", "amont", {"amont", "amount"}},
      {"  - rename: {catgory: kind}\n", "catgory", {"catgory", "category"}},
      {"  - cast: {column: amount, type: doubel}\n", "doubel", {"doubel"}},
      {"  - filter: \"cast(amount as integr) > 1\"\n", "integr", {"integr"}},
      {"  - filter: \"nosuchfn(amount) > 1\"\n", "nosuchfn", {"nosuchfn"}},
      {"  - filter: \"sum(amount) > 10\"\n", "sum", {"aggregate"}},
      {"  - filter: \"category > 10 and 'x\"\n", "'x", {"quote"}},
      {"  - filter: 'amount > 10 and custmer = 1'\n", "custmer", {"unknown column 'custmer'", "did you mean customer"}},
      {"  - with_column: {name: x, expr: \"amount * \"}\n", "\"", {"ends too early"}},
      {"  - with_column: {name: x, expr: \"custmer * 2\"}\n", "custmer", {"unknown column 'custmer'"}},
      {"  - with_column: {name: x, expr: \"category * 2\"}\n", "* 2", {"'*(VARCHAR, INTEGER_LITERAL)'"}},
      {"  - with_column: {name: x, expr: \"amount / \"}\n", "\"", {"ends too early"}},
      // Column names of select, aggregate, join and sort.
      {"  - select: [id, custmer]\n", "custmer", {"unknown column 'custmer'", "did you mean customer"}},
      {"  - select: [id, \"Amount\"]\n", "Amount", {"unknown column 'Amount'"}},
      {"  - aggregate: {by: [categry], aggs: {n: \"count(*)\"}}\n", "categry", {"unknown column 'categry'"}},
      {"  - aggregate: {by: [category], aggs: {t: \"sum(amont)\"}}\n", "amont", {"unknown column 'amont'"}},
      {"  - aggregate: {by: [category], aggs: {t: \"summ(amount)\"}}\n", "summ", {"unknown aggregate function 'summ'"}},
      {"  - aggregate: {by: [category], aggs: {n: \"count(*)\", m: \"max(ts)\", t: \"medain(amount)\"}}\n", "medain",
       {"unknown aggregate function 'medain'"}},
      {"  - aggregate: {by: [category], aggs: {t: \"sum(amount + 1)\"}}\n", "sum(amount + 1)", {"function(column)"}},
      {"  - aggregate: {by: [category], aggs: {t: \"sum(*)\"}}\n", "sum(*)", {"needs a column"}},
      {"  - aggregate: {by: [category], aggs: {t: \"sum(category)\"}}\n", "sum(category)", {"'sum(VARCHAR)'"}},
      {"  - join: {source: {csv: DIR/customers.csv}, on: [custmer], right_on: [id]}\n", "custmer",
       {"unknown column 'custmer'"}},
      {"  - join: {source: {csv: DIR/customers.csv}, on: [customer], right_on: [idd]}\n", "idd",
       {"unknown column 'idd'", "did you mean id"}},
      {"  - join: {source: {csv: DIR/customers.csv}, on: [category], right_on: [id]}\n", "category",
       {"cannot match"}},
      {"  - join: {source: {parquet: DIR/missing.parquet}, on: [customer], right_on: [id]}\n", "DIR/missing",
       {"join source", "matches no file"}},
      {"  - join: {source: {parquet: DIR/customers.csv}, on: [customer], right_on: [id]}\n", "DIR/customers",
       {"join source"}},
      {"  - sort: [totl]\n", "totl", {"unknown column 'totl'"}},
      {"  - sort: [{column: amont, descending: true}]\n", "amont", {"unknown column 'amont'", "did you mean amount"}},
      // A column a stage before dropped.
      {"  - aggregate: {by: [category], aggs: {n: \"count(*)\"}}\n  - filter: \"amount > 1\"\n", "amount",
       {"unknown column 'amount'", "category, n"}},
      {"  - select: [id, amount]\n  - sort: [category]\n", "category", {"unknown column 'category'"}},
      {"  - with_column: {name: eur, expr: \"amount * 0.9\"}\n  - select: [id, euro]\n", "euro",
       {"unknown column 'euro'", "did you mean eur"}},
      // Sources and sinks.
      {"  - limit: 1\n", "DIR/nothing", {"source", "matches no file"}, "parquet: DIR/nothing/*.parquet"},
      {"  - limit: 1\n", "DIR/customers.csv", {"source"}, "parquet: DIR/customers.csv"},
      {"  - filter: \"price > 1\"\n", "price", {"unknown column 'price'"}, "generate: {rows: 10}"},
      {"  - limit: 1\n", "DIR/a-file", {"not a folder"}, "parquet: DIR/orders.parquet", "parquet: DIR/a-file"},
      {"  - limit: 1\n", "DIR/a-file/out", {"cannot be created", "is not a folder"}, "parquet: DIR/orders.parquet",
       "csv: DIR/a-file/out"},
  };
  ASSERT_GE(cases.size(), 30u);
  for (const auto& bad : cases) {
    const std::string text = Text(bad);
    ASSERT_OK_AND_ASSIGN(auto spec, ParsePipelineSpec(text, "spec.yaml"));
    const auto status = CheckSpec(spec, text, "spec.yaml");
    ASSERT_FALSE(status.ok()) << "accepted:\n" << text;
    const std::string token = std::regex_replace(bad.token, std::regex("DIR"), dir_.string());
    ExpectPointsAt(text, status.message(), token);
    for (const auto& word : bad.reason) {
      EXPECT_NE(status.message().find(word), std::string::npos)
          << "the message does not say '" << word << "':\n" << status.message();
    }
    // Nothing of the libraries underneath: names, error classes.
    for (const char* internal : {"Gandiva", "Acero", "duckdb", "DuckDB"}) {
      EXPECT_EQ(status.message().find(internal), std::string::npos) << status.message();
    }
    EXPECT_FALSE(std::regex_search(status.message(), std::regex("[A-Z][a-z]+ Error: "))) << status.message();
  }
}

TEST_F(SpecCheckTest, AGoodSpecPassesAndStopsAtAPythonStage) {
  const std::string text = Text({.stages =
                                     "  - filter: \"amount > 10 and category is not null\"\n"
                                     "  - with_column: {name: eur, expr: \"amount * 0.92\"}\n"
                                     "  - join: {source: {csv: DIR/customers.csv}, on: [customer], right_on: [id]}\n"
                                     "  - aggregate: {by: [segment], aggs: {total: \"sum(eur)\", n: \"count(*)\"}}\n"
                                     "  - sort: [{column: total, descending: true}]\n"
                                     "  - python: {transform: anything, task_queue: py}\n"
                                     "  - select: [made_by_python]\n"});
  ASSERT_OK_AND_ASSIGN(auto spec, ParsePipelineSpec(text, "spec.yaml"));
  EXPECT_OK(CheckSpec(spec, text, "spec.yaml"));
}

}  // namespace
}  // namespace flightdeck::pipeline
