// DataFrame sources and sinks against a real flightdeck data node.
#include <arrow/api.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/flight/data_node.h"
#include "flightdeck/frame/data_frame.h"
#include "flightdeck/frame/generate.h"

namespace flightdeck::frame {
namespace {

TEST(FlightIoTest, PutThenGetThroughTheDataFrame) {
  ASSERT_OK_AND_ASSIGN(auto node, flight::DataNode::Start({}));
  const std::string location = node->location().ToString();
  ASSERT_OK_AND_ASSIGN(auto orders, GenerateOrders({.rows = 20'000, .batch_rows = 3'000, .seed = 5}));

  auto books = DataFrame::FromTable(orders).Filter("category = 'books'");
  ASSERT_OK_AND_ASSIGN(auto expected, books.Collect());
  const flight::CallIdentity acme{.tenant = "acme"};
  ASSERT_OK_AND_ASSIGN(FlightPutResult put, books.PutToFlight(location, "acme/books/p0", acme));
  EXPECT_EQ(put.rows, expected->num_rows());
  EXPECT_GE(put.batches, 1);
  // The node answers with the dataset's summary, ticket included.
  ASSERT_EQ(put.server_metadata.size(), 1u);
  auto summary = nlohmann::json::parse(put.server_metadata[0]);
  EXPECT_EQ(summary.at("rows").get<int64_t>(), expected->num_rows());
  const std::string ticket = summary.at("ticket").get<std::string>();

  // Tickets are valid for their tenant only.
  auto foreign = DataFrame::FromFlight(location, ticket);
  ASSERT_RAISES(KeyError, foreign.status());
  EXPECT_TRUE(flight::IsDatasetLost(foreign.status())) << foreign.status().ToString();

  ASSERT_OK_AND_ASSIGN(auto remote, DataFrame::FromFlight(location, ticket, acme));
  ASSERT_OK_AND_ASSIGN(auto schema, remote.schema());
  // Computed columns are nullable, whatever their inputs were.
  ASSERT_EQ(schema->num_fields(), orders->schema()->num_fields());
  for (int i = 0; i < schema->num_fields(); ++i) {
    EXPECT_EQ(schema->field(i)->name(), orders->schema()->field(i)->name());
    EXPECT_TRUE(schema->field(i)->type()->Equals(*orders->schema()->field(i)->type())) << schema->ToString();
  }
  ASSERT_OK_AND_ASSIGN(auto counted, remote.GroupBy({"category"}).Agg({CountAll("n")}).Collect());
  ASSERT_EQ(counted->num_rows(), 1);
  EXPECT_EQ(counted->GetColumnByName("n")->GetScalar(0).ValueOrDie()->ToString(),
            std::to_string(expected->num_rows()));
  // A Flight stream is one-shot.
  ASSERT_RAISES(Invalid, remote.Collect());
}

TEST(FlightIoTest, ErrorsAreReported) {
  ASSERT_OK_AND_ASSIGN(auto node, flight::DataNode::Start({}));
  const std::string location = node->location().ToString();
  EXPECT_FALSE(DataFrame::FromFlight(location, "no/such/ticket").ok());
  EXPECT_FALSE(DataFrame::FromFlight("not a uri", "x").ok());
  ASSERT_OK_AND_ASSIGN(auto orders, GenerateOrders({.rows = 100}));
  // Empty path elements are refused by the node; the error comes back.
  EXPECT_FALSE(DataFrame::FromTable(orders).PutToFlight(location, "a//b").ok());
  // A failing plan uploads nothing: the cast fails mid-stream.
  auto failing = DataFrame::FromTable(orders).WithColumn("bad", "category::int64");
  EXPECT_FALSE(failing.PutToFlight(location, "default/bad/p0").ok());
  EXPECT_EQ(node->dataset_count(), 0u);
  // Another tenant's path is refused.
  EXPECT_FALSE(DataFrame::FromTable(orders).PutToFlight(location, "acme/orders/p0").ok());
}

}  // namespace
}  // namespace flightdeck::frame
