// NodeClient against a real data node in this process: every call of the
// node protocol, the tenant added in one place, one connection per
// location, and lost datasets found by their status detail.
#include "flightdeck/flight/node_client.h"

#include <filesystem>

#include <arrow/table.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/flight/data_node.h"
#include "flightdeck/frame/generate.h"
#include "flightdeck/frame/transform.h"

namespace flightdeck::flight {
namespace {

namespace fl = arrow::flight;

class NodeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = flightdeck::testing::FreshTestDir("fd-node-client");
    DataNodeOptions options;
    options.store.data_dir = dir_.string();
    options.exchange_transform = [](std::string_view command, std::shared_ptr<arrow::RecordBatchReader> input) {
      return frame::ApplyTransform(std::move(input), command);
    };
    ASSERT_OK_AND_ASSIGN(node_, DataNode::Start(std::move(options)));
    ASSERT_OK_AND_ASSIGN(client_, NodeClient::For(node_->location().ToString()));
    ASSERT_OK_AND_ASSIGN(table_, frame::GenerateOrders({.rows = 5'000, .batch_rows = 1'000}));
  }
  void TearDown() override {
    if (node_) ASSERT_OK(node_->Shutdown());
    std::filesystem::remove_all(dir_);
  }

  arrow::Result<DatasetRef> PutOrders(const CallIdentity& who, const std::string& dataset) {
    arrow::TableBatchReader reader(*table_);
    return client_->Put(who, fl::FlightDescriptor::Path({who.tenant, dataset, "0"}), reader);
  }

  std::filesystem::path dir_;
  std::unique_ptr<DataNode> node_;
  std::shared_ptr<NodeClient> client_;
  std::shared_ptr<arrow::Table> table_;
};

TEST_F(NodeClientTest, PutFindGetPersistStatsListAndExpire) {
  const CallIdentity acme{.tenant = "acme"};
  ASSERT_OK_AND_ASSIGN(DatasetRef put, PutOrders(acme, "orders"));
  EXPECT_EQ(put.rows, 5'000);
  EXPECT_EQ(put.path, "acme/orders/0");
  EXPECT_GT(put.bytes, 0);
  EXPECT_FALSE(put.checksum.empty());

  ASSERT_OK_AND_ASSIGN(auto found, client_->Find(acme, {"acme", "orders", "0"}));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, put.ticket);
  ASSERT_OK_AND_ASSIGN(auto absent, client_->Find(acme, {"acme", "nothing", "0"}));
  EXPECT_FALSE(absent.has_value());

  ASSERT_OK_AND_ASSIGN(auto stream, client_->Get(acme, put.ticket));
  ASSERT_OK_AND_ASSIGN(auto read, stream->ToTable());
  EXPECT_TRUE(read->Equals(*table_));

  ASSERT_OK_AND_ASSIGN(DatasetRef persisted, client_->Persist(acme, put.ticket));
  EXPECT_TRUE(persisted.durable);
  EXPECT_EQ(persisted.checksum, put.checksum);

  ASSERT_OK_AND_ASSIGN(auto stats, client_->Stats(acme));
  EXPECT_EQ(stats.at("tenant").at("datasets"), 1) << stats.dump();
  ASSERT_OK_AND_ASSIGN(auto listed, client_->List(acme, "acme/"));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].descriptor().path, (std::vector<std::string>{"acme", "orders", "0"}));

  ASSERT_OK_AND_ASSIGN(int64_t expired, client_->Expire(acme, {"orders"}, 0));
  EXPECT_EQ(expired, 1);
  auto gone = client_->Get(acme, put.ticket);
  ASSERT_RAISES(KeyError, gone.status());
  EXPECT_TRUE(IsDatasetLost(gone.status())) << gone.status().ToString();
  EXPECT_TRUE(IsDatasetLost(client_->Drop(acme, put.ticket)));
  EXPECT_TRUE(IsDatasetLost(client_->Persist(acme, put.ticket).status()));
}

TEST_F(NodeClientTest, TheTenantGoesWithEveryCall) {
  ASSERT_OK_AND_ASSIGN(DatasetRef put, PutOrders({.tenant = "acme"}, "orders"));
  // Another tenant (and the default one) cannot see acme's dataset.
  auto foreign = client_->Get({.tenant = "globex"}, put.ticket);
  EXPECT_TRUE(IsDatasetLost(foreign.status())) << foreign.status().ToString();
  ASSERT_OK_AND_ASSIGN(auto stats, client_->Stats({}));
  EXPECT_EQ(stats.at("tenant").at("name"), "default");
  EXPECT_EQ(stats.at("tenant").at("datasets"), 0);
  // A put under another tenant's path is refused.
  arrow::TableBatchReader reader(*table_);
  EXPECT_FALSE(client_->Put({.tenant = "globex"}, fl::FlightDescriptor::Path({"acme", "x", "0"}), reader).ok());
  ASSERT_OK(client_->Drop({.tenant = "acme"}, put.ticket));
}

// Gives the batches of `table`, then fails instead of ending.
class FailingReader : public arrow::RecordBatchReader {
 public:
  explicit FailingReader(const arrow::Table& table) : batches_(table) {}
  std::shared_ptr<arrow::Schema> schema() const override { return batches_.schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    ARROW_RETURN_NOT_OK(batches_.ReadNext(batch));
    if (*batch == nullptr) return arrow::Status::IOError("the source went away");
    return arrow::Status::OK();
  }

 private:
  arrow::TableBatchReader batches_;
};

TEST_F(NodeClientTest, AFailingSourceLeavesNothingOnTheNode) {
  const CallIdentity acme{.tenant = "acme"};
  FailingReader reader(*table_);
  auto put = client_->Put(acme, fl::FlightDescriptor::Path({"acme", "half", "0"}), reader);
  ASSERT_FALSE(put.ok());
  EXPECT_NE(put.status().message().find("the source went away"), std::string::npos) << put.status().ToString();
  // Every batch reached the node before the failure; the put is cancelled,
  // not ended, so the node keeps none of them.
  ASSERT_TRUE(flightdeck::testing::WaitFor([&] { return node_->stats().puts_in_flight == 0; }, std::chrono::seconds(10)));
  ASSERT_OK_AND_ASSIGN(auto found, client_->Find(acme, {"acme", "half", "0"}));
  EXPECT_FALSE(found.has_value());
  ASSERT_OK_AND_ASSIGN(auto stats, client_->Stats(acme));
  EXPECT_EQ(stats.at("tenant").at("datasets"), 0);
}

TEST_F(NodeClientTest, ExchangeRunsTheNodesTransform) {
  arrow::TableBatchReader reader(*table_);
  ASSERT_OK_AND_ASSIGN(auto out, client_->Exchange({.tenant = "acme"}, "select id where id < 10", reader));
  EXPECT_EQ(out->num_rows(), 10);
  EXPECT_EQ(out->schema()->num_fields(), 1);
}

TEST_F(NodeClientTest, OneConnectionPerLocation) {
  ASSERT_OK_AND_ASSIGN(auto again, NodeClient::For(node_->location().ToString()));
  EXPECT_EQ(again.get(), client_.get());
  EXPECT_FALSE(NodeClient::For("not a location").ok());
  // A node that is not there fails the call, as an IOError, not as a lost dataset.
  ASSERT_OK_AND_ASSIGN(auto nowhere, NodeClient::For("grpc+tcp://127.0.0.1:1"));
  auto down = nowhere->Stats({});
  ASSERT_FALSE(down.ok());
  EXPECT_FALSE(IsDatasetLost(down.status())) << down.status().ToString();
}

TEST(DatasetLostTest, TheDetailNamesWhatWasLostAndSurvivesRelabelling) {
  const auto cause = arrow::Status::KeyError("no dataset for this ticket");
  const auto lost = DatasetLost("", cause);
  EXPECT_TRUE(lost.IsKeyError());
  EXPECT_EQ(LostDatasetOf(lost), "");
  const auto named = DatasetLost("input 3", lost);
  EXPECT_EQ(LostDatasetOf(named), "input 3");
  EXPECT_EQ(named.message(), "dataset lost: input 3: no dataset for this ticket");
  EXPECT_FALSE(IsDatasetLost(arrow::Status::KeyError("dataset lost: input 3: words only")));
  EXPECT_EQ(LostDatasetOf(arrow::Status::OK()), std::nullopt);
}

}  // namespace
}  // namespace flightdeck::flight
