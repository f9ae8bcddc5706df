#include "flightdeck/frame/sql_text.h"

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/frame/type_names.h"

#include <arrow/scalar.h>
#include <arrow/type.h>

namespace flightdeck::frame {
namespace {

TEST(SqlTextTest, QuotesNamesAndStrings) {
  EXPECT_EQ(QuoteIdentifier("amount"), "\"amount\"");
  EXPECT_EQ(QuoteIdentifier("a \"b\""), "\"a \"\"b\"\"\"");
  EXPECT_EQ(QuoteString("it's"), "'it''s'");
}

TEST(SqlTextTest, AnExpressionCannotEndTheStatementItSitsIn) {
  ASSERT_OK(CheckExpressionText("amount > 10 and note = ')'", "filter"));
  ASSERT_OK(CheckExpressionText("\"odd ) name\" > (1 + 2)", "filter"));
  auto closes = CheckExpressionText("a > 1) or (1 = 1", "filter");
  ASSERT_RAISES(Invalid, closes);
  EXPECT_NE(closes.message().find("at position 6: ')' closes nothing"), std::string::npos) << closes;
  ASSERT_RAISES(Invalid, CheckExpressionText("a > (1", "filter"));
  ASSERT_RAISES(Invalid, CheckExpressionText("a = 'open", "filter"));
  ASSERT_RAISES(Invalid, CheckExpressionText("a > 1; select 1", "filter"));
  ASSERT_RAISES(Invalid, CheckExpressionText("a > 1 -- the rest", "filter"));
  ASSERT_RAISES(Invalid, CheckExpressionText("a /* x */ > 1", "filter"));
  ASSERT_RAISES(Invalid, CheckExpressionText("   ", "filter"));
  ASSERT_OK(CheckExpressionText("a - -1", "filter"));
  // A query may hold comments, not a second statement.
  ASSERT_OK(CheckQueryText("select 1 -- one\n, 2 /* two */", "sql"));
  ASSERT_RAISES(Invalid, CheckQueryText("select 1; select 2", "sql"));
}

TEST(SqlTextTest, NamesPlaceholdersAndKeywords) {
  EXPECT_EQ(MentionedIdentifiers("amount * 2 > \"Net Total\" and c = 'literal'"),
            (std::set<std::string>{"amount", "Net Total", "and", "c"}));
  EXPECT_EQ(FindTopLevelKeyword("select a, (select b where c) where d", "where"), 29u);
  EXPECT_EQ(FindTopLevelKeyword("'where' and x", "where"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto replaced, ReplacePlaceholders("x > $avg and y = '$avg'", {{"avg", "(42)"}}));
  EXPECT_EQ(replaced, "x > (42) and y = '$avg'");
  ASSERT_RAISES(Invalid, ReplacePlaceholders("x > $nope", {}));
  EXPECT_EQ(PlaceholderNames("$a + $b_2 - '$c'"), (std::vector<std::string>{"a", "b_2"}));
  EXPECT_EQ(SplitTopLevel("a, f(b, c), 'd,e'", ','), (std::vector<std::string>{"a", " f(b, c)", " 'd,e'"}));
  EXPECT_TRUE(IsIdentifier(" amount "));
  EXPECT_TRUE(IsIdentifier("\"odd name\""));
  EXPECT_FALSE(IsIdentifier("a + 1"));
}

TEST(SqlTextTest, ErrorPositionsMapBackToTheText) {
  const std::string sql = "SELECT *\nFROM t WHERE (\namout > 10\n)";
  const std::string message =
      "Binder Error: Referenced column \"amout\" not found\n\nLINE 3: amout > 10\n        ^";
  EXPECT_EQ(ErrorPosition(message, sql), sql.find("amout"));
  EXPECT_EQ(CaretUnder("amount >> 10", 8), "amount >> 10\n        ^");
  EXPECT_EQ(ClosestNames("amout", {"id", "amount", "amounts", "category"}),
            (std::vector<std::string>{"amount", "amounts"}));
  EXPECT_TRUE(ClosestNames("zzz", {"id", "amount"}).empty());
}

TEST(TypeNamesTest, PlanTypeNamesAndTheirSql) {
  ASSERT_OK_AND_ASSIGN(auto int8, ParseTypeName("int8"));
  EXPECT_TRUE(int8->Equals(arrow::int8()));
  ASSERT_OK_AND_ASSIGN(auto ts, ParseTypeName("timestamp(ms, 'Europe/Paris')"));
  EXPECT_TRUE(ts->Equals(arrow::timestamp(arrow::TimeUnit::MILLI, "Europe/Paris")));
  ASSERT_OK_AND_ASSIGN(auto dec, ParseTypeName("decimal(15, 2)"));
  EXPECT_TRUE(dec->Equals(arrow::decimal128(15, 2)));
  ASSERT_RAISES(Invalid, ParseTypeName("decimal(50, 2)"));
  ASSERT_RAISES(Invalid, ParseTypeName("varchar2"));
  ASSERT_OK_AND_ASSIGN(auto sql, SqlTypeName(*arrow::int8()));
  EXPECT_EQ(sql, "TINYINT");
  ASSERT_OK_AND_ASSIGN(sql, SqlTypeName(*arrow::decimal128(15, 2)));
  EXPECT_EQ(sql, "DECIMAL(15,2)");
  ASSERT_OK_AND_ASSIGN(sql, SqlTypeName(*arrow::timestamp(arrow::TimeUnit::NANO)));
  EXPECT_EQ(sql, "TIMESTAMP_NS");
  ASSERT_RAISES(Invalid, SqlTypeName(*arrow::list(arrow::int8())));
  ASSERT_OK_AND_ASSIGN(sql, SqlLiteral(arrow::Int64Scalar(42)));
  EXPECT_EQ(sql, "CAST('42' AS BIGINT)");
  ASSERT_OK_AND_ASSIGN(sql, SqlLiteral(arrow::StringScalar("it's")));
  EXPECT_EQ(sql, "'it''s'");
  ASSERT_OK_AND_ASSIGN(sql, SqlLiteral(arrow::DoubleScalar(0.1)));
  EXPECT_EQ(sql, "CAST(0.10000000000000001 AS DOUBLE)");
  ASSERT_OK_AND_ASSIGN(sql, SqlLiteral(*arrow::MakeNullScalar(arrow::utf8())));
  EXPECT_EQ(sql, "CAST(NULL AS VARCHAR)");
}

}  // namespace
}  // namespace flightdeck::frame
