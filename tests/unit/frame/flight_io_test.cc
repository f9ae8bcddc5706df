// DataFrame sources and sinks against a real flightdeck data node.
#include <arrow/api.h>
#include <gtest/gtest.h>

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
  ASSERT_OK_AND_ASSIGN(FlightPutResult put, books.PutToFlight(location, "acme/books/p0"));
  EXPECT_EQ(put.rows, expected->num_rows());
  EXPECT_GE(put.batches, 1);

  ASSERT_OK_AND_ASSIGN(auto remote, DataFrame::FromFlight(location, "acme/books/p0"));
  ASSERT_OK_AND_ASSIGN(auto schema, remote.schema());
  EXPECT_TRUE(schema->Equals(*orders->schema()));
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
  EXPECT_FALSE(failing.PutToFlight(location, "acme/bad/p0").ok());
  EXPECT_FALSE(DataFrame::FromFlight(location, "acme/bad/p0").ok());
}

}  // namespace
}  // namespace flightdeck::frame
