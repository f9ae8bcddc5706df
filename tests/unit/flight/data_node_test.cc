#include "flightdeck/flight/data_node.h"

#include <arrow/flight/client.h>
#include <arrow/table.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/frame/generate.h"

namespace flightdeck::flight {
namespace {

namespace fl = arrow::flight;

class DataNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(node_, DataNode::Start({}));
    ASSERT_OK_AND_ASSIGN(client_, fl::FlightClient::Connect(node_->location()));
  }
  void TearDown() override {
    if (client_) ASSERT_OK(client_->Close());
    if (node_) ASSERT_OK(node_->Shutdown());
  }

  arrow::Status Put(const fl::FlightDescriptor& descriptor, const arrow::Table& table) {
    ARROW_ASSIGN_OR_RAISE(auto put, client_->DoPut(descriptor, table.schema()));
    ARROW_RETURN_NOT_OK(put.writer->WriteTable(table, 1000));
    ARROW_RETURN_NOT_OK(put.writer->DoneWriting());
    return put.writer->Close();
  }

  std::unique_ptr<DataNode> node_;
  std::unique_ptr<fl::FlightClient> client_;
};

TEST_F(DataNodeTest, PutListInfoGetRoundTrip) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 5'500}));
  auto descriptor = fl::FlightDescriptor::Path({"acme", "orders", "0"});
  ASSERT_OK(Put(descriptor, *table));
  EXPECT_EQ(node_->dataset_count(), 1u);

  ASSERT_OK_AND_ASSIGN(auto info, client_->GetFlightInfo(descriptor));
  EXPECT_EQ(info->total_records(), 5'500);
  EXPECT_GT(info->total_bytes(), 5'500 * 8 * 2);
  ASSERT_EQ(info->endpoints().size(), 1u);
  ASSERT_EQ(info->endpoints()[0].locations.size(), 1u);
  EXPECT_EQ(info->endpoints()[0].locations[0], node_->location());
  arrow::ipc::DictionaryMemo memo;
  ASSERT_OK_AND_ASSIGN(auto schema, info->GetSchema(&memo));
  EXPECT_TRUE(schema->Equals(*table->schema()));

  ASSERT_OK_AND_ASSIGN(auto stream, client_->DoGet(info->endpoints()[0].ticket));
  ASSERT_OK_AND_ASSIGN(auto read, stream->ToTable());
  EXPECT_TRUE(read->Equals(*table));

  ASSERT_OK_AND_ASSIGN(auto schema_result, client_->GetSchema(descriptor));
  ASSERT_OK_AND_ASSIGN(auto schema2, schema_result->GetSchema(&memo));
  EXPECT_TRUE(schema2->Equals(*table->schema()));
}

TEST_F(DataNodeTest, ListFlightsFiltersByPrefix) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  ASSERT_OK(Put(fl::FlightDescriptor::Path({"acme", "orders", "0"}), *table));
  ASSERT_OK(Put(fl::FlightDescriptor::Path({"acme", "orders", "1"}), *table));
  ASSERT_OK(Put(fl::FlightDescriptor::Path({"globex", "orders", "0"}), *table));

  ASSERT_OK_AND_ASSIGN(auto all, client_->ListFlights());
  int count = 0;
  while (true) {
    ASSERT_OK_AND_ASSIGN(auto info, all->Next());
    if (!info) break;
    ++count;
  }
  EXPECT_EQ(count, 3);

  ASSERT_OK_AND_ASSIGN(auto acme, client_->ListFlights(fl::FlightCallOptions{}, fl::Criteria{"acme/"}));
  std::vector<std::string> paths;
  while (true) {
    ASSERT_OK_AND_ASSIGN(auto info, acme->Next());
    if (!info) break;
    EXPECT_EQ(info->total_records(), 10);
    paths.push_back(info->descriptor().path[0] + "/" + info->descriptor().path[2]);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"acme/0", "acme/1"}));
}

TEST_F(DataNodeTest, UnknownTicketIsNotFound) {
  auto stream = client_->DoGet(fl::Ticket{"acme/none/0"});
  arrow::Status st = stream.ok() ? (*stream)->ToTable().status() : stream.status();
  // KeyError travels as gRPC NOT_FOUND and comes back as KeyError.
  ASSERT_RAISES(KeyError, st);
  EXPECT_NE(st.message().find("acme/none/0"), std::string::npos) << st.ToString();
}

TEST_F(DataNodeTest, CommandDescriptorIsRejectedAndNothingStored) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  arrow::Status st = Put(fl::FlightDescriptor::Command("not a path"), *table);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("path descriptor"), std::string::npos) << st.ToString();
  EXPECT_EQ(node_->dataset_count(), 0u);
}

}  // namespace
}  // namespace flightdeck::flight
