#include "flightdeck/frame/expression_parser.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/frame/data_frame.h"
#include "unit/frame/frame_test_util.h"

namespace flightdeck::frame {
namespace {

using testing::ExpectRows;
using testing::TableFromRows;

std::shared_ptr<arrow::Table> People() {
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8()),
                               arrow::field("score", arrow::float64()),
                               arrow::field("day", arrow::date32()),
                               arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"))});
  return TableFromRows(schema, R"([
      [1, "ann", 9.5, 19000, 1700000000000000],
      [2, "bob", null, 19001, 1700000001000000],
      [3, null, 3.0, null, null],
      [4, "dan", 12.25, 19003, 1700000003000000]])")
      .ValueOrDie();
}

// Each case: an expression and the ids of the rows it keeps, in the spirit of
// sqllogictest files.
struct FilterCase {
  const char* expression;
  const char* ids;  // JSON rows of [id]
};

class ParsedFilterTest : public ::testing::TestWithParam<FilterCase> {};

TEST_P(ParsedFilterTest, KeepsExpectedRows) {
  const FilterCase& c = GetParam();
  ASSERT_OK_AND_ASSIGN(auto table,
                       DataFrame::FromTable(People()).Filter(c.expression).Select({"id"}).Collect());
  ExpectRows(table, c.ids);
}

INSTANTIATE_TEST_SUITE_P(
    Language, ParsedFilterTest,
    ::testing::Values(
        FilterCase{"id > 2", "[[3], [4]]"}, FilterCase{"id >= 2 and id < 4", "[[2], [3]]"},
        FilterCase{"id = 1 or id == 4", "[[1], [4]]"}, FilterCase{"id != 1 AND id <> 2", "[[3], [4]]"},
        FilterCase{"not id > 1", "[[1]]"}, FilterCase{"score * 2 > 19", "[[4]]"},
        FilterCase{"score - 1 + 0.5 / 1 < 3", "[[3]]"}, FilterCase{"-id < -3", "[[4]]"},
        FilterCase{"score is null", "[[2]]"}, FilterCase{"name IS NOT NULL", "[[1], [2], [4]]"},
        FilterCase{"name in ('ann', 'dan', 'zed')", "[[1], [4]]"},
        FilterCase{"name not in ('ann')", "[[2], [4]]"},
        FilterCase{"id between 2 and 3", "[[2], [3]]"},
        FilterCase{"id not between 2 and 3", "[[1], [4]]"},
        FilterCase{"name like 'a%' or name like '_o_'", "[[1], [2]]"},
        FilterCase{"day = date '2022-01-09'", "[[2]]"},
        FilterCase{"ts > timestamp '2023-11-14 22:13:20Z'", "[[2], [4]]"},
        FilterCase{"cast(score as int64) = 3", "[[3]]"}, FilterCase{"score::int = 12", "[[4]]"},
        FilterCase{"id::double / 2 = 1.5", "[[3]]"}, FilterCase{"id / 2 = 1", "[[2], [3]]"},
        FilterCase{"utf8_upper(name) = 'BOB'", "[[2]]"},
        FilterCase{"coalesce(score, 0.0) < 1", "[[2]]"},
        FilterCase{"\"id\" = 1 and (name = 'ann')", "[[1]]"},
        FilterCase{"case when id < 2 then 'low' when id < 4 then 'mid' else 'high' end = 'mid'",
                   "[[2], [3]]"},
        FilterCase{"case id when 4 then true else false end", "[[4]]"},
        FilterCase{"name || '!' = 'dan!'", "[[4]]"}, FilterCase{"true", "[[1], [2], [3], [4]]"},
        FilterCase{"null", "[]"}, FilterCase{"1e1 < score", "[[4]]"}));

TEST(ExpressionParserTest, BuildersAndTextAgree) {
  ASSERT_OK_AND_ASSIGN(Expr parsed, ParseExpression("score * 0.92 > 5 and name = 'ann'"));
  Expr built = col("score") * 0.92 > lit(5) && col("name") == lit("ann");
  EXPECT_TRUE(parsed.expression().Equals(built.expression())) << parsed.ToString() << " vs "
                                                              << built.ToString();
}

TEST(ExpressionParserTest, PrecedenceFollowsSql) {
  ASSERT_OK_AND_ASSIGN(Expr a, ParseExpression("1 + 2 * 3"));
  EXPECT_TRUE(a.expression().Equals((lit(1) + lit(2) * lit(3)).expression()));
  ASSERT_OK_AND_ASSIGN(Expr b, ParseExpression("x or y and not z"));
  EXPECT_TRUE(b.expression().Equals((col("x") || (col("y") && !col("z"))).expression()));
}

TEST(ExpressionParserTest, TypeNames) {
  ASSERT_OK_AND_ASSIGN(auto t, ParseTypeName("timestamp(ns, 'UTC')"));
  EXPECT_TRUE(t->Equals(arrow::timestamp(arrow::TimeUnit::NANO, "UTC")));
  ASSERT_OK_AND_ASSIGN(t, ParseTypeName("decimal(12, 2)"));
  EXPECT_TRUE(t->Equals(arrow::decimal128(12, 2)));
  ASSERT_OK_AND_ASSIGN(t, ParseTypeName("VARCHAR"));
  EXPECT_TRUE(t->Equals(arrow::utf8()));
  ASSERT_RAISES(Invalid, ParseTypeName("quaternion"));
}

struct ErrorCase {
  const char* expression;
  const char* message;  // a substring of the error
};

class ParseErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParseErrorTest, NamesPositionAndExpectation) {
  auto result = ParseExpression(GetParam().expression);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.status().IsInvalid());
  EXPECT_NE(result.status().message().find(GetParam().message), std::string::npos)
      << result.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Language, ParseErrorTest,
    ::testing::Values(
        ErrorCase{"a >", "at position 4: expected an operand, found end of input"},
        ErrorCase{"a > > 1", "at position 5: expected an operand, found '>'"},
        ErrorCase{"(a + 1", "expected ')', found end of input"},
        ErrorCase{"a = 'abc", "at position 5: unterminated string literal"},
        ErrorCase{"a ? 1", "at position 3: unexpected character '?'"},
        ErrorCase{"nosuchfn(a)", "at position 1: unknown function 'nosuchfn'"},
        ErrorCase{"sum(a) > 1", "'sum' is not a scalar"},
        ErrorCase{"abs(a, b)", "takes 1 argument(s), got 2"},
        ErrorCase{"a between 1", "expected AND"},
        ErrorCase{"case a end", "expected WHEN"},
        ErrorCase{"cast(a as quaternion)", "unknown type 'quaternion'"},
        ErrorCase{"a is 3", "expected NULL"}, ErrorCase{"a in 1", "expected '('"},
        ErrorCase{"date 'yesterday' < d", "expected a date as 'YYYY-MM-DD'"},
        ErrorCase{"a b", "expected an operator or end of input, found 'b'"},
        ErrorCase{"99999999999999999999", "does not fit in int64"},
        ErrorCase{"1e400 > a", "at position 1: number 1e400 does not fit in a double"},
        ErrorCase{"a::decimal(99999999999, 2)", "expected a precision of at most 76"},
        ErrorCase{"a % 2", "'%' is not supported"}, ErrorCase{"", "expected an operand"}));

}  // namespace
}  // namespace flightdeck::frame
