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

TEST(GenerateTest, SchemaAndBatchSizes) {
  ASSERT_OK_AND_ASSIGN(auto t, GenerateOrders({.rows = 10'001, .batch_rows = 2'500}));
  EXPECT_EQ(t->schema()->ToString(),
            "id: int64 not null\ncustomer: int64 not null\namount: double\n"
            "category: string\nts: timestamp[us, tz=UTC]");
  ASSERT_OK(t->ValidateFull());
  const auto& chunks = t->column(3)->chunks();
  ASSERT_EQ(chunks.size(), 5u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(chunks[i]->length(), 2'500);
  EXPECT_EQ(chunks[4]->length(), 1);
}

TEST(GenerateTest, ValuesDependOnlyOnSeedAndRow) {
  // Batch size and threads change the chunking, never a value.
  ASSERT_OK_AND_ASSIGN(auto one, GenerateOrders({.rows = 50'000, .batch_rows = 50'000,
                                                 .seed = 11, .use_threads = false}));
  ASSERT_OK_AND_ASSIGN(auto many, GenerateOrders({.rows = 50'000, .batch_rows = 777, .seed = 11}));
  EXPECT_TRUE(one->Equals(*many));
  // A prefix of a longer table is the shorter table.
  ASSERT_OK_AND_ASSIGN(auto longer, GenerateOrders({.rows = 60'000, .seed = 11}));
  EXPECT_TRUE(longer->Slice(0, 50'000)->Equals(*one));
}

TEST(GenerateTest, ColumnSubsetHasTheSameValues) {
  ASSERT_OK_AND_ASSIGN(auto all, GenerateOrders({.rows = 20'000, .seed = 5}));
  ASSERT_OK_AND_ASSIGN(auto some, GenerateOrders({.rows = 20'000, .seed = 5,
                                                  .columns = {"ts", "category"}}));
  ASSERT_EQ(some->num_columns(), 2);
  EXPECT_EQ(some->schema()->field(0)->name(), "category");  // table order
  EXPECT_TRUE(some->column(0)->Equals(*all->column(3)));
  EXPECT_TRUE(some->column(1)->Equals(*all->column(4)));
  ASSERT_RAISES(Invalid, GenerateOrders({.rows = 10, .columns = {"price"}}).status());
}

TEST(GenerateTest, KnownFirstRows) {
  // The same rows bench/support/orders_generator.py gives (interop test
  // test_first_rows_match_the_cpp_generator), from splitmix64 seeded with 7.
  ASSERT_OK_AND_ASSIGN(auto t, GenerateOrders({.rows = 3, .seed = 7, .first_id = 1000}));
  ASSERT_OK_AND_ASSIGN(auto batch, t->CombineChunksToBatch());
  const auto& ids = static_cast<const arrow::Int64Array&>(*batch->column(0));
  const auto& customers = static_cast<const arrow::Int64Array&>(*batch->column(1));
  const auto& amounts = static_cast<const arrow::DoubleArray&>(*batch->column(2));
  const auto& categories = static_cast<const arrow::StringArray&>(*batch->column(3));
  const auto& stamps = static_cast<const arrow::TimestampArray&>(*batch->column(4));
  const int64_t want_customer[] = {34843, 72927, 41453};
  const double want_amount[] = {389.82, 900.76, 452.44};
  const char* want_category[] = {"books", "music", "games"};
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ids.Value(i), 1000 + i);
    EXPECT_EQ(customers.Value(i), want_customer[i]);
    EXPECT_EQ(amounts.Value(i), want_amount[i]);
    EXPECT_EQ(categories.GetView(i), want_category[i]);
    EXPECT_EQ(stamps.Value(i), 1'767'225'600'000'000 + (1000 + i) * 1'000'000);
  }
}

TEST(GenerateTest, NullFractionHonoured) {
  ASSERT_OK_AND_ASSIGN(auto none, GenerateOrders({.rows = 5'000, .null_fraction = 0}));
  ASSERT_OK_AND_ASSIGN(auto all, GenerateOrders({.rows = 5'000, .null_fraction = 1}));
  ASSERT_OK_AND_ASSIGN(auto half, GenerateOrders({.rows = 100'000, .null_fraction = 0.5}));
  for (int i = 2; i < 5; ++i) {
    EXPECT_EQ(none->column(i)->null_count(), 0);
    EXPECT_EQ(all->column(i)->null_count(), 5'000);
    EXPECT_GT(half->column(i)->null_count(), 48'000);
    EXPECT_LT(half->column(i)->null_count(), 52'000);
  }
  ASSERT_OK(all->ValidateFull());
}

TEST(GenerateTest, EmptyAndInvalid) {
  ASSERT_OK_AND_ASSIGN(auto empty, GenerateOrders({.rows = 0}));
  EXPECT_EQ(empty->num_rows(), 0);
  ASSERT_RAISES(Invalid, GenerateOrders({.rows = -1}).status());
  ASSERT_RAISES(Invalid, GenerateOrders({.batch_rows = 0}).status());
  ASSERT_RAISES(Invalid, GenerateOrders({.batch_rows = int64_t{1} << 29}).status());
  ASSERT_RAISES(Invalid, GenerateOrders({.null_fraction = 2}).status());
}

}  // namespace
}  // namespace flightdeck::frame
