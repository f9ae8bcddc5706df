#include "flightdeck/flight/exchange_transform.h"

#include <arrow/table.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/frame/generate.h"

namespace flightdeck::flight {
namespace {

TEST(ExchangeTransformTest, SelectsAndFiltersWithAndedConditions) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 1000, .batch_rows = 1000}));
  ASSERT_OK_AND_ASSIGN(auto batch, table->CombineChunksToBatch());
  ASSERT_OK_AND_ASSIGN(auto transform,
                       ExchangeTransform::Make(R"({"select": ["category", "id"],
                           "filter": [{"column": "id", "op": ">=", "value": 100},
                                      {"column": "id", "op": "!=", "value": 150},
                                      {"column": "id", "op": "<", "value": 200}]})",
                                               batch->schema()));
  EXPECT_EQ(transform->output_schema()->field(0)->name(), "category");
  ASSERT_OK_AND_ASSIGN(auto out, transform->Apply(*batch));
  EXPECT_EQ(out->num_columns(), 2);
  EXPECT_EQ(out->num_rows(), 99);
}

TEST(ExchangeTransformTest, NoSpecKeepsEverything) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  ASSERT_OK_AND_ASSIGN(auto batch, table->CombineChunksToBatch());
  ASSERT_OK_AND_ASSIGN(auto transform, ExchangeTransform::Make("{}", batch->schema()));
  ASSERT_OK_AND_ASSIGN(auto out, transform->Apply(*batch));
  EXPECT_TRUE(out->Equals(*batch));
}

TEST(ExchangeTransformTest, BadSpecsNameTheProblem) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"nope", "JSON object"},
      {R"({"select": ["missing"]})", "'missing'"},
      {R"({"where": 1})", "unknown key 'where'"},
      {R"({"filter": {"column": "id", "op": "~", "value": 1}})", "op"},
      {R"({"filter": {"column": "id", "value": 1}})", "needs 'column', 'op' and 'value'"},
      {R"({"filter": {"column": "id", "op": "==", "value": "abc"}})", "does not fit column 'id'"},
  };
  for (const auto& [spec, message] : cases) {
    auto made = ExchangeTransform::Make(spec, table->schema());
    ASSERT_RAISES(Invalid, made);
    EXPECT_NE(made.status().message().find(message), std::string::npos)
        << spec << " -> " << made.status().ToString();
  }
}

}  // namespace
}  // namespace flightdeck::flight
