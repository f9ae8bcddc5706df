#include "flightdeck/frame/generate.h"

#include <arrow/array.h>
#include <arrow/chunked_array.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck::frame {
namespace {

TEST(GenerateTest, SameOptionsSameTable) {
  GenerateOptions options{.rows = 10'000, .batch_rows = 3'000, .seed = 7};
  ASSERT_OK_AND_ASSIGN(auto a, GenerateOrders(options));
  ASSERT_OK_AND_ASSIGN(auto b, GenerateOrders(options));
  EXPECT_TRUE(a->Equals(*b));
  EXPECT_EQ(a->num_rows(), 10'000);
  EXPECT_EQ(a->num_columns(), 5);
  EXPECT_EQ(a->column(0)->num_chunks(), 4);  // 3000 + 3000 + 3000 + 1000
  options.seed = 8;
  ASSERT_OK_AND_ASSIGN(auto c, GenerateOrders(options));
  EXPECT_FALSE(a->Equals(*c));
}

TEST(GenerateTest, NullsOnlyWhereAllowed) {
  ASSERT_OK_AND_ASSIGN(auto t, GenerateOrders({.rows = 20'000, .null_fraction = 0.1}));
  EXPECT_EQ(t->column(0)->null_count(), 0);
  EXPECT_EQ(t->column(1)->null_count(), 0);
  for (int i = 2; i < 5; ++i) {
    EXPECT_GT(t->column(i)->null_count(), 1'000) << t->schema()->field(i)->name();
    EXPECT_LT(t->column(i)->null_count(), 3'000) << t->schema()->field(i)->name();
  }
}

TEST(GenerateTest, EmptyAndInvalid) {
  ASSERT_OK_AND_ASSIGN(auto empty, GenerateOrders({.rows = 0}));
  EXPECT_EQ(empty->num_rows(), 0);
  ASSERT_RAISES(Invalid, GenerateOrders({.rows = -1}).status());
  ASSERT_RAISES(Invalid, GenerateOrders({.batch_rows = 0}).status());
  ASSERT_RAISES(Invalid, GenerateOrders({.null_fraction = 2}).status());
}

}  // namespace
}  // namespace flightdeck::frame
