#include "flightdeck/frame/transform.h"

#include <cstdio>
#include <fstream>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "unit/frame/frame_test_util.h"

namespace flightdeck::frame {
namespace {

using testing::ExpectRows;
using testing::TableFromRows;

std::shared_ptr<arrow::RecordBatchReader> Input() {
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("amount", arrow::float64()),
                               arrow::field("category", arrow::utf8())});
  auto table = TableFromRows(schema, R"([[1, 10.0, "books"], [2, null, "games"], [3, 200.0, "books"],
                                         [4, 50.0, null]])")
                   .ValueOrDie();
  return std::make_shared<arrow::TableBatchReader>(table);
}

std::shared_ptr<arrow::Table> Drain(arrow::RecordBatchReader* reader) {
  return reader->ToTable().ValueOrDie();
}

TEST(TransformTest, ProjectsAndFilters) {
  ASSERT_OK_AND_ASSIGN(auto reader, ApplyTransform(Input(), "select id, amount * 2 as twice where category = 'books'"));
  ASSERT_EQ(reader->schema()->field(1)->name(), "twice");
  ExpectRows(Drain(reader.get()), "[[1, 20.0], [3, 400.0]]");
}

TEST(TransformTest, StarAndUnnamedExpressions) {
  ASSERT_OK_AND_ASSIGN(auto reader, ApplyTransform(Input(), "*, id + 1 where amount is null"));
  ASSERT_EQ(reader->schema()->num_fields(), 4);
  EXPECT_EQ(reader->schema()->field(3)->name(), "id + 1");
  ExpectRows(Drain(reader.get()), R"([[2, null, "games", 3]])");
}

// The DoExchange column of the README's stage vocabulary table.
TEST(TransformTest, TheVocabularyTableCommandsRun) {
  ASSERT_OK_AND_ASSIGN(auto filtered, ApplyTransform(Input(), "select * where amount > 150"));
  ExpectRows(Drain(filtered.get()), R"([[3, 200.0, "books"]])");
  ASSERT_OK_AND_ASSIGN(auto derived, ApplyTransform(Input(), "select *, amount * 0.5 as half where id = 3"));
  ASSERT_EQ(derived->schema()->num_fields(), 4);
  EXPECT_EQ(derived->schema()->field(3)->name(), "half");
  ExpectRows(Drain(derived.get()), R"([[3, 200.0, "books", 100.0]])");
  ASSERT_OK_AND_ASSIGN(auto selected, ApplyTransform(Input(), "select id, category where id = 4"));
  ExpectRows(Drain(selected.get()), R"([[4, null]])");
  ASSERT_OK_AND_ASSIGN(auto renamed,
                       ApplyTransform(Input(), "select * exclude (category), category as kind where id = 3"));
  EXPECT_EQ(renamed->schema()->field_names(), (std::vector<std::string>{"id", "amount", "kind"}));
  ExpectRows(Drain(renamed.get()), R"([[3, 200.0, "books"]])");
  ASSERT_OK_AND_ASSIGN(auto dropped, ApplyTransform(Input(), "select * exclude (amount, category) where id = 3"));
  ExpectRows(Drain(dropped.get()), R"([[3]])");
  ASSERT_OK_AND_ASSIGN(auto cast, ApplyTransform(Input(), "select * replace (amount::bigint as amount) where id = 3"));
  EXPECT_EQ(cast->schema()->field(1)->type()->id(), arrow::Type::INT64);
  ExpectRows(Drain(cast.get()), R"([[3, 200, "books"]])");
}

TEST(TransformTest, FilterOnly) {
  ASSERT_OK_AND_ASSIGN(auto reader, ApplyTransform(Input(), "WHERE id >= 3"));
  ExpectRows(Drain(reader.get()), R"([[3, 200.0, "books"], [4, 50.0, null]])");
}

TEST(TransformTest, BadSpecsFailBeforeReading) {
  ASSERT_RAISES(Invalid, ApplyTransform(Input(), "select nope"));
  ASSERT_RAISES(Invalid, ApplyTransform(Input(), "select id where"));
  ASSERT_RAISES(Invalid, ApplyTransform(Input(), "select id as"));
  ASSERT_RAISES(Invalid, ApplyTransform(Input(), "where category + 1"));
  ASSERT_RAISES(Invalid, ApplyTransform(Input(), ""));
  ASSERT_RAISES(Invalid, ApplyTransform(Input(), "select id from other_table"));
  ASSERT_RAISES(Invalid, ApplyTransform(Input(), "select id; drop table x"));
  auto result = ApplyTransform(Input(), "select id, id where id > 1 extra");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("syntax error at or near \"extra\""), std::string::npos)
      << result.status().message();
}

TEST(TransformTest, ClientSqlCannotReachFilesOnAClosedEngine) {
  // A data node runs exchanges on engines without external access: a
  // command cannot read the node's files.
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Open({.threads = 1, .external_access = false}));
  auto result = ApplyTransform(Input(), "select id, (select count(*) from read_csv('/etc/passwd')) as n", engine);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("disabled"), std::string::npos) << result.status().message();
  // Not while binding either (DuckDB sniffs a CSV file when it binds
  // read_csv): nothing of the file reaches the error.
  const std::string secret = ::testing::TempDir() + "/fd-transform-secret.csv";
  { std::ofstream(secret) << "password\ntopsecret-4711\n"; }
  for (const std::string command : {"where id > (select count(*) from read_csv('" + secret + "'))",
                                    "select (select max(password) from read_csv('" + secret + "')) as p"}) {
    auto sniffed = ApplyTransform(Input(), command, engine);
    ASSERT_FALSE(sniffed.ok()) << command;
    EXPECT_NE(sniffed.status().message().find("disabled"), std::string::npos) << sniffed.status().message();
    EXPECT_EQ(sniffed.status().message().find("topsecret"), std::string::npos) << sniffed.status().message();
  }
  std::remove(secret.c_str());
  // The same engine still scans the client's stream.
  ASSERT_OK_AND_ASSIGN(auto reader, ApplyTransform(Input(), "select id where id > 3", engine));
  ExpectRows(Drain(reader.get()), "[[4]]");
}

}  // namespace
}  // namespace flightdeck::frame
