// The data node over real Flight calls: opaque tenant-scoped tickets, atomic
// puts with a summary, GetFlightInfo/GetSchema/ListFlights, DoExchange and
// the actions.
#include "flightdeck/flight/data_node.h"

#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include <arrow/flight/client.h>
#include <arrow/table.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/flight/caller.h"
#include "flightdeck/frame/generate.h"
#include "flightdeck/frame/transform.h"

namespace flightdeck::flight {
namespace {

namespace fl = arrow::flight;
using json = nlohmann::json;

fl::FlightCallOptions As(const std::string& tenant) {
  fl::FlightCallOptions options;
  options.headers.emplace_back(kTenantHeader, tenant);
  return options;
}

class DataNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The hook `flightdeck node` installs (tests may use the frame layer).
    DataNodeOptions options;
    options.exchange_transform = [](std::string_view command,
                                    std::shared_ptr<arrow::RecordBatchReader> input) {
      return frame::ApplyTransform(std::move(input), command);
    };
    ASSERT_OK_AND_ASSIGN(node_, DataNode::Start(std::move(options)));
    ASSERT_OK_AND_ASSIGN(client_, fl::FlightClient::Connect(node_->location()));
  }
  void TearDown() override {
    if (client_) ASSERT_OK(client_->Close());
    if (node_) ASSERT_OK(node_->Shutdown());
  }

  // Puts `table` and returns the put's result metadata as JSON.
  arrow::Result<json> Put(const fl::FlightDescriptor& descriptor, const arrow::Table& table,
                          const std::string& tenant = "acme") {
    ARROW_ASSIGN_OR_RAISE(auto put, client_->DoPut(As(tenant), descriptor, table.schema()));
    ARROW_RETURN_NOT_OK(put.writer->WriteTable(table, 1000));
    ARROW_RETURN_NOT_OK(put.writer->DoneWriting());
    std::shared_ptr<arrow::Buffer> metadata;
    ARROW_RETURN_NOT_OK(put.reader->ReadMetadata(&metadata));
    ARROW_RETURN_NOT_OK(put.writer->Close());
    if (!metadata) return arrow::Status::Invalid("put returned no metadata");
    return json::parse(metadata->ToString());
  }

  arrow::Result<std::shared_ptr<arrow::Table>> Get(const std::string& ticket,
                                                   const std::string& tenant = "acme") {
    ARROW_ASSIGN_OR_RAISE(auto stream, client_->DoGet(As(tenant), fl::Ticket{ticket}));
    return stream->ToTable();
  }

  arrow::Result<json> Action(const std::string& type, const std::string& body,
                             const std::string& tenant = "acme") {
    ARROW_ASSIGN_OR_RAISE(auto results,
                          client_->DoAction(As(tenant), fl::Action{type, arrow::Buffer::FromString(body)}));
    ARROW_ASSIGN_OR_RAISE(auto result, results->Next());
    if (!result) return arrow::Status::Invalid("no result");
    return json::parse(result->body->ToString());
  }

  std::unique_ptr<DataNode> node_;
  std::unique_ptr<fl::FlightClient> client_;
};

TEST_F(DataNodeTest, PutReturnsTicketAndSummaryAndStandardFlowReadsItBack) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 5'500}));
  auto descriptor = fl::FlightDescriptor::Path({"acme", "orders", "0"});
  ASSERT_OK_AND_ASSIGN(json summary, Put(descriptor, *table));
  EXPECT_EQ(summary["rows"], 5'500);
  EXPECT_EQ(summary["path"], "acme/orders/0");
  EXPECT_GT(summary["bytes"].get<int64_t>(), 5'500 * 8 * 2);
  EXPECT_EQ(summary["checksum"].get<std::string>().size(), 5u + 16u);
  EXPECT_FALSE(summary["schema_fingerprint"].get<std::string>().empty());
  const std::string ticket = summary["ticket"];
  EXPECT_EQ(ticket.find("orders"), std::string::npos) << "tickets are opaque";
  EXPECT_EQ(node_->dataset_count(), 1u);

  ASSERT_OK_AND_ASSIGN(auto info, client_->GetFlightInfo(As("acme"), descriptor));
  EXPECT_EQ(info->total_records(), 5'500);
  EXPECT_EQ(info->total_bytes(), summary["bytes"].get<int64_t>());
  ASSERT_EQ(info->endpoints().size(), 1u);
  EXPECT_EQ(info->endpoints()[0].ticket.ticket, ticket);
  ASSERT_EQ(info->endpoints()[0].locations.size(), 1u);
  EXPECT_EQ(info->endpoints()[0].locations[0], node_->location());
  arrow::ipc::DictionaryMemo memo;
  ASSERT_OK_AND_ASSIGN(auto schema, info->GetSchema(&memo));
  EXPECT_TRUE(schema->Equals(*table->schema()));

  ASSERT_OK_AND_ASSIGN(auto read, Get(info->endpoints()[0].ticket.ticket));
  EXPECT_TRUE(read->Equals(*table));

  ASSERT_OK_AND_ASSIGN(auto schema_result, client_->GetSchema(As("acme"), descriptor));
  ASSERT_OK_AND_ASSIGN(auto schema2, schema_result->GetSchema(&memo));
  EXPECT_TRUE(schema2->Equals(*table->schema()));
}

TEST_F(DataNodeTest, CommandDescriptorPutsTheSameWay) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 100}));
  ASSERT_OK_AND_ASSIGN(
      json summary,
      Put(fl::FlightDescriptor::Command(R"({"tenant":"acme","dataset":"o","partition":"7"})"),
          *table));
  EXPECT_EQ(summary["path"], "acme/o/7");
  ASSERT_OK_AND_ASSIGN(auto read, Get(summary["ticket"]));
  EXPECT_TRUE(read->Equals(*table));
}

TEST_F(DataNodeTest, GetFlightInfoSplitsADatasetIntoEndpointsReadConcurrently) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 5'500}));  // 6 batches
  ASSERT_OK_AND_ASSIGN(json summary, Put(fl::FlightDescriptor::Path({"acme", "o", "0"}), *table));
  for (int parts : {1, 4, 8}) {
    ASSERT_OK_AND_ASSIGN(
        auto info,
        client_->GetFlightInfo(
            As("acme"), fl::FlightDescriptor::Command(
                            R"({"tenant":"acme","dataset":"o","partition":"0","endpoints":)" +
                            std::to_string(parts) + "}")));
    EXPECT_EQ(info->total_records(), 5'500);
    ASSERT_EQ(info->endpoints().size(), static_cast<size_t>(parts));
    EXPECT_TRUE(info->ordered());
    if (parts == 1) {
      EXPECT_EQ(info->endpoints()[0].ticket.ticket, summary["ticket"]);
    }
    // The parts, fetched at once over their own connections, are the dataset
    // in order; with more parts than batches some are empty.
    std::vector<std::shared_ptr<arrow::Table>> read(parts);
    std::vector<arrow::Status> statuses(parts);
    std::vector<std::thread> threads;
    for (int i = 0; i < parts; ++i) {
      threads.emplace_back([&, i] {
        statuses[i] = [&]() -> arrow::Status {
          const fl::FlightEndpoint& endpoint = info->endpoints()[i];
          EXPECT_EQ(endpoint.locations.at(0), node_->location());
          ARROW_ASSIGN_OR_RAISE(auto client, fl::FlightClient::Connect(endpoint.locations[0]));
          ARROW_ASSIGN_OR_RAISE(auto stream, client->DoGet(As("acme"), endpoint.ticket));
          ARROW_ASSIGN_OR_RAISE(read[i], stream->ToTable());
          return client->Close();
        }();
      });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& status : statuses) ASSERT_OK(status);
    ASSERT_OK_AND_ASSIGN(auto joined, arrow::ConcatenateTables(read));
    EXPECT_TRUE(joined->Equals(*table)) << parts << " parts";
  }
  // Part tickets are tenant-scoped like whole ones, and actions refuse them.
  const std::string part = summary["ticket"].get<std::string>() + ":1/2";
  auto foreign = Get(part, "globex");
  auto out_of_range = Get(summary["ticket"].get<std::string>() + ":2/2");
  auto unknown = Get("fdt1:acme:0123456789abcdef0123456789abcdef:1/2");
  ASSERT_RAISES(KeyError, foreign);
  ASSERT_RAISES(KeyError, out_of_range);
  ASSERT_RAISES(KeyError, unknown);
  EXPECT_EQ(foreign.status().message(), unknown.status().message());
  EXPECT_EQ(out_of_range.status().message(), unknown.status().message());
  ASSERT_RAISES(KeyError, Action("drop", json{{"ticket", part}}.dump()));
  EXPECT_EQ(node_->dataset_count(), 1u);
}

TEST_F(DataNodeTest, TicketsAreValidOnlyForTheirTenant) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  ASSERT_OK_AND_ASSIGN(json summary, Put(fl::FlightDescriptor::Path({"acme", "o", "0"}), *table));
  auto foreign = Get(summary["ticket"], "globex");
  auto unknown = Get("fdt1:acme:0123456789abcdef0123456789abcdef");
  auto malformed = Get("acme/o/0");
  ASSERT_RAISES(KeyError, foreign);
  ASSERT_RAISES(KeyError, unknown);
  ASSERT_RAISES(KeyError, malformed);
  EXPECT_EQ(foreign.status().message(), unknown.status().message());
  EXPECT_EQ(foreign.status().message(), malformed.status().message());
  // The path of another tenant is not found either.
  ASSERT_RAISES(KeyError, client_->GetFlightInfo(As("globex"),
                                                 fl::FlightDescriptor::Path({"acme", "o", "0"})));
  // And nobody writes into another tenant.
  auto put = Put(fl::FlightDescriptor::Path({"acme", "o", "1"}), *table, "globex");
  ASSERT_FALSE(put.ok());
  EXPECT_NE(put.status().message().find("cannot put"), std::string::npos) << put.status().ToString();
}

TEST_F(DataNodeTest, ListFlightsFiltersByPrefixWithinTheTenant) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  ASSERT_OK(Put(fl::FlightDescriptor::Path({"acme", "orders", "0"}), *table));
  ASSERT_OK(Put(fl::FlightDescriptor::Path({"acme", "orders", "1"}), *table));
  ASSERT_OK(Put(fl::FlightDescriptor::Path({"acme", "users", "0"}), *table));
  ASSERT_OK(Put(fl::FlightDescriptor::Path({"globex", "orders", "0"}), *table, "globex"));

  auto list = [&](const std::string& tenant, const std::string& prefix) {
    std::vector<std::string> paths;
    auto listing = client_->ListFlights(As(tenant), fl::Criteria{prefix});
    EXPECT_TRUE(listing.ok()) << listing.status().ToString();
    while (listing.ok()) {
      auto info = (*listing)->Next();
      if (!info.ok() || !*info) break;
      EXPECT_EQ((*info)->total_records(), 10);
      const auto& path = (*info)->descriptor().path;
      paths.push_back(path[0] + "/" + path[1] + "/" + path[2]);
    }
    return paths;
  };
  EXPECT_EQ(list("acme", ""), (std::vector<std::string>{"acme/orders/0", "acme/orders/1",
                                                        "acme/users/0"}));
  EXPECT_EQ(list("acme", "acme/orders/"),
            (std::vector<std::string>{"acme/orders/0", "acme/orders/1"}));
  EXPECT_EQ(list("acme", "globex/"), std::vector<std::string>{});
  EXPECT_EQ(list("globex", ""), std::vector<std::string>{"globex/orders/0"});
}

TEST_F(DataNodeTest, MalformedDescriptorsAreInvalidAndStoreNothing) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  for (const auto& descriptor :
       {fl::FlightDescriptor::Command("not json"), fl::FlightDescriptor::Command(R"({"tenant":"acme"})"),
        fl::FlightDescriptor::Path({"acme", "o"}), fl::FlightDescriptor::Path({"acme", "", "0"})}) {
    auto put = Put(descriptor, *table);
    ASSERT_RAISES(Invalid, put);
  }
  EXPECT_EQ(node_->dataset_count(), 0u);
}

TEST_F(DataNodeTest, ActionsDropPersistStatsHealthGc) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  ASSERT_OK_AND_ASSIGN(json summary, Put(fl::FlightDescriptor::Path({"acme", "o", "0"}), *table));
  std::vector<std::string> names;
  ASSERT_OK_AND_ASSIGN(auto types, client_->ListActions());
  for (const auto& type : types) names.push_back(type.type);
  EXPECT_EQ(names, (std::vector<std::string>{"drop", "persist", "stats", "health", "gc", "backup", "expire",
                                              "RenewFlightEndpoint", "CancelFlightInfo"}));

  ASSERT_OK_AND_ASSIGN(json stats, Action("stats", ""));
  EXPECT_EQ(stats["datasets"], 1);
  EXPECT_EQ(stats["memory_used_bytes"], summary["bytes"]);
  ASSERT_OK_AND_ASSIGN(json health, Action("health", ""));
  EXPECT_EQ(health["status"], "ok");
  ASSERT_OK_AND_ASSIGN(json gc, Action("gc", ""));
  EXPECT_EQ(gc["dropped"], 0);
  const std::string body = json{{"ticket", summary["ticket"]}}.dump();
  // No data dir: persisting is refused, by name.
  ASSERT_RAISES(Invalid, Action("persist", body));
  ASSERT_RAISES(KeyError, Action("drop", body, "globex"));
  ASSERT_RAISES(Invalid, Action("drop", "{}"));
  ASSERT_RAISES(Invalid, Action("explode", ""));
  ASSERT_OK(Action("drop", body));
  ASSERT_RAISES(KeyError, Get(summary["ticket"]));
  EXPECT_EQ(node_->dataset_count(), 0u);
}

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MsOf(const fl::Timestamp& time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

TEST_F(DataNodeTest, DatasetLifetimeFollowsFlightEndpointExpiration) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  // A put with a TTL: its endpoint names the expiry; one without has none.
  ASSERT_OK(Put(fl::FlightDescriptor::Command(
                    R"({"tenant": "acme", "dataset": "leased", "partition": "0", "ttl_seconds": 60})"),
                *table)
                .status());
  ASSERT_OK(Put(fl::FlightDescriptor::Path({"acme", "kept", "0"}), *table).status());
  ASSERT_OK_AND_ASSIGN(auto leased, client_->GetFlightInfo(As("acme"), fl::FlightDescriptor::Path({"acme", "leased", "0"})));
  ASSERT_TRUE(leased->endpoints()[0].expiration_time.has_value());
  EXPECT_NEAR(MsOf(*leased->endpoints()[0].expiration_time), UnixMs() + 60'000, 5'000);
  ASSERT_OK_AND_ASSIGN(auto kept, client_->GetFlightInfo(As("acme"), fl::FlightDescriptor::Path({"acme", "kept", "0"})));
  EXPECT_FALSE(kept->endpoints()[0].expiration_time.has_value());

  // RenewFlightEndpoint moves the expiry to the time asked for.
  fl::FlightEndpoint endpoint = leased->endpoints()[0];
  endpoint.expiration_time = fl::Timestamp(std::chrono::milliseconds(UnixMs() + 3'600'000));
  ASSERT_OK_AND_ASSIGN(auto renewed, client_->RenewFlightEndpoint(As("acme"), fl::RenewFlightEndpointRequest{endpoint}));
  ASSERT_TRUE(renewed.expiration_time.has_value());
  EXPECT_EQ(MsOf(*renewed.expiration_time), MsOf(*endpoint.expiration_time));
  ASSERT_OK_AND_ASSIGN(leased, client_->GetFlightInfo(As("acme"), fl::FlightDescriptor::Path({"acme", "leased", "0"})));
  EXPECT_EQ(MsOf(*leased->endpoints()[0].expiration_time), MsOf(*endpoint.expiration_time));
  // Another tenant cannot renew it: it does not exist for them.
  ASSERT_RAISES(KeyError, client_->RenewFlightEndpoint(As("globex"), fl::RenewFlightEndpointRequest{endpoint}));

  // CancelFlightInfo releases the datasets of the info's endpoints.
  ASSERT_OK_AND_ASSIGN(auto cancelled,
                       client_->CancelFlightInfo(As("acme"), fl::CancelFlightInfoRequest{std::move(leased)}));
  EXPECT_EQ(cancelled.status, fl::CancelStatus::kCancelled);
  ASSERT_RAISES(KeyError, client_->GetFlightInfo(As("acme"), fl::FlightDescriptor::Path({"acme", "leased", "0"})));

  // "expire" by dataset name, every partition: a lease, then a drop.
  ASSERT_OK(Put(fl::FlightDescriptor::Path({"acme", "run-x", "1"}), *table).status());
  ASSERT_OK(Put(fl::FlightDescriptor::Path({"acme", "run-x", "2"}), *table).status());
  ASSERT_OK_AND_ASSIGN(json leased_all, Action("expire", R"({"datasets": ["run-x", "absent"], "ttl_ms": 600000})"));
  EXPECT_EQ(leased_all["datasets"], 2);
  EXPECT_NEAR(leased_all["expires_at_ms"].get<int64_t>(), UnixMs() + 600'000, 5'000);
  ASSERT_OK_AND_ASSIGN(json none_for_other, Action("expire", R"({"datasets": ["run-x"], "ttl_ms": 0})", "globex"));
  EXPECT_EQ(none_for_other["datasets"], 0);
  ASSERT_OK_AND_ASSIGN(json dropped, Action("expire", R"({"datasets": ["run-x"], "ttl_ms": 0})"));
  EXPECT_EQ(dropped["datasets"], 2);
  ASSERT_RAISES(KeyError, client_->GetFlightInfo(As("acme"), fl::FlightDescriptor::Path({"acme", "run-x", "1"})));
  ASSERT_RAISES(Invalid, Action("expire", R"({"datasets": ["a/b"], "ttl_ms": 0})"));
  ASSERT_RAISES(Invalid, Action("expire", R"({"datasets": ["a"], "ttl_ms": -1})"));
  ASSERT_RAISES(Invalid, Action("expire", R"({"datasets": "a"})"));
  EXPECT_EQ(node_->dataset_count(), 1u);  // "kept"
}

// Runs one DoExchange of `table` with `command`; the result or the error.
arrow::Result<std::shared_ptr<arrow::Table>> Exchange(fl::FlightClient& client,
                                                      const std::string& command,
                                                      const arrow::Table& table) {
  ARROW_ASSIGN_OR_RAISE(auto exchange,
                        client.DoExchange(As("acme"), fl::FlightDescriptor::Command(command)));
  arrow::Status st = exchange.writer->Begin(table.schema());
  if (st.ok()) st = exchange.writer->WriteTable(table, 1000);
  if (st.ok()) st = exchange.writer->DoneWriting();
  auto result = exchange.reader->ToTable();
  arrow::Status closed = exchange.writer->Close();
  ARROW_RETURN_NOT_OK(result.status());
  ARROW_RETURN_NOT_OK(closed);
  ARROW_RETURN_NOT_OK(st);
  return result;
}

TEST_F(DataNodeTest, DoExchangeRunsTheInstalledTransform) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 3000, .batch_rows = 1000}));
  ASSERT_OK_AND_ASSIGN(auto result,
                       Exchange(*client_, "select id, amount * 2 as doubled where id < 1500",
                                *table));
  ASSERT_EQ(result->num_columns(), 2);
  EXPECT_EQ(result->num_rows(), 1500);
  EXPECT_EQ(result->schema()->field(1)->name(), "doubled");

  auto unknown = Exchange(*client_, "select nope", *table);
  ASSERT_RAISES(Invalid, unknown);
  EXPECT_NE(unknown.status().message().find("nope"), std::string::npos) << unknown.status();
  auto malformed = Exchange(*client_, "select id where id >", *table);
  ASSERT_RAISES(Invalid, malformed);
  EXPECT_NE(malformed.status().message().find("ends too early"), std::string::npos)
      << malformed.status();
  ASSERT_RAISES(Invalid, Exchange(*client_, "", *table));
}

TEST(DataNodeExchangeTest, WithoutATransformDoExchangeIsNotImplemented) {
  ASSERT_OK_AND_ASSIGN(auto node, DataNode::Start({}));
  ASSERT_OK_AND_ASSIGN(auto client, fl::FlightClient::Connect(node->location()));
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  auto result = Exchange(*client, "select id", *table);
  ASSERT_RAISES(NotImplemented, result);
  EXPECT_NE(result.status().message().find("exchange_transform"), std::string::npos)
      << result.status();
  ASSERT_OK(client->Close());
}

TEST(DataNodeCapacityTest, FullNodeFailsThePutWithCapacityErrorAndKeepsNothing) {
  ASSERT_OK_AND_ASSIGN(auto node, DataNode::Start({.store = {.memory_budget_bytes = 200'000}}));
  ASSERT_OK_AND_ASSIGN(auto client, fl::FlightClient::Connect(node->location()));
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 50'000}));
  ASSERT_OK_AND_ASSIGN(auto put, client->DoPut(As("acme"),
                                               fl::FlightDescriptor::Path({"acme", "o", "0"}),
                                               table->schema()));
  arrow::Status st = put.writer->WriteTable(*table, 1000);
  if (st.ok()) st = put.writer->DoneWriting();
  arrow::Status closed = put.writer->Close();
  if (st.ok()) st = closed;
  // The Arrow code survives the trip in Flight's x-arrow-status trailer.
  ASSERT_RAISES(CapacityError, st);
  EXPECT_NE(st.message().find("200000"), std::string::npos) << st.ToString();
  // gRPC's rich status travels as the Flight extra info: a serialized
  // google.rpc.Status whose field 1 (code) is RESOURCE_EXHAUSTED (8).
  auto detail = fl::FlightStatusDetail::UnwrapStatus(st);
  ASSERT_NE(detail, nullptr) << st.ToString();
  const std::string rich = detail->extra_info();
  ASSERT_GE(rich.size(), 2u) << st.ToString();
  EXPECT_EQ(rich.substr(0, 2), std::string("\x08\x08"));
  EXPECT_NE(rich.find("memory is full"), std::string::npos);
  EXPECT_EQ(node->stats().memory_used_bytes, 0);
  EXPECT_EQ(node->dataset_count(), 0u);
  ASSERT_OK(client->Close());
}

TEST(DataNodeGcTest, ExpiredDatasetsAreCollectedInTheBackground) {
  ASSERT_OK_AND_ASSIGN(auto node,
                       DataNode::Start({.store = {.default_ttl = std::chrono::milliseconds(20)},
                                        .gc_interval = std::chrono::milliseconds(10)}));
  ASSERT_OK_AND_ASSIGN(auto client, fl::FlightClient::Connect(node->location()));
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 1000}));
  ASSERT_OK_AND_ASSIGN(auto put, client->DoPut(As("acme"),
                                               fl::FlightDescriptor::Path({"acme", "o", "0"}),
                                               table->schema()));
  ASSERT_OK(put.writer->WriteTable(*table, 1000));
  ASSERT_OK(put.writer->Close());
  ASSERT_TRUE(testing::WaitFor([&] { return node->stats().datasets == 0; },
                               std::chrono::seconds(10)));
  EXPECT_EQ(node->stats().memory_used_bytes, 0);
  ASSERT_OK(client->Close());
}

TEST(AdvertisedLocationTest, DefaultsToTheBoundInterfaceElseTheHostName) {
  DataNodeOptions options;
  options.host = "127.0.0.1";
  ASSERT_OK_AND_ASSIGN(auto location, AdvertisedLocation(options, 4242));
  EXPECT_EQ(location.ToString(), "grpc+tcp://127.0.0.1:4242");

  char name[256] = {};
  ASSERT_EQ(::gethostname(name, sizeof(name) - 1), 0);
  for (const char* any : {"0.0.0.0", "::"}) {
    options.host = any;
    ASSERT_OK_AND_ASSIGN(location, AdvertisedLocation(options, 4242));
    EXPECT_EQ(location.ToString(), std::string("grpc+tcp://") + name + ":4242") << any;
  }
}

TEST(AdvertisedLocationTest, TakesHostAndOptionalPort) {
  DataNodeOptions options;
  options.host = "0.0.0.0";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"node-3.example", "grpc+tcp://node-3.example:4242"},
      {"10.1.2.3:31337", "grpc+tcp://10.1.2.3:31337"},
      {"[fd00::1]:8815", "grpc+tcp://[fd00::1]:8815"},
      {"[fd00::1]", "grpc+tcp://[fd00::1]:4242"},
  };
  for (const auto& [text, expected] : cases) {
    options.advertise = text;
    ASSERT_OK_AND_ASSIGN(auto location, AdvertisedLocation(options, 4242));
    EXPECT_EQ(location.ToString(), expected) << text;
  }
  for (const char* bad : {":80", "host:", "host:http", "host:0", "host:70000", "fd00::1",
                          "[fd00::1", "[fd00::1]x", "a b", "user@host"}) {
    options.advertise = bad;
    auto location = AdvertisedLocation(options, 4242);
    SCOPED_TRACE(bad);
    ASSERT_RAISES(Invalid, location.status());
    EXPECT_NE(location.status().message().find("--advertise '" + std::string(bad) + "'"),
              std::string::npos)
        << location.status().ToString();
  }
}

TEST(NodeExposureTest, PlaintextBeyondLoopbackIsRefusedUnlessInsecure) {
  for (const char* host : {"0.0.0.0", "::"}) {
    DataNodeOptions options;
    options.host = host;
    auto refused = DataNode::Start(options);
    ASSERT_RAISES(Invalid, refused.status());
    EXPECT_NE(refused.status().message().find(std::string("refusing to serve ") + host + " in plaintext"),
              std::string::npos)
        << refused.status().ToString();
    EXPECT_NE(refused.status().message().find("--insecure"), std::string::npos);
  }
  DataNodeOptions loopback;
  loopback.host = "localhost";
  ASSERT_OK_AND_ASSIGN(auto node, DataNode::Start(std::move(loopback)));
  ASSERT_OK(node->Shutdown());
}

TEST(AdvertisedLocationTest, ANodeOnEveryInterfaceHandsOutTheAdvertisedAddress) {
  DataNodeOptions options;
  options.host = "0.0.0.0";
  options.advertise = "127.0.0.1";
  options.insecure = true;  // plaintext beyond loopback, see NodeExposureTest
  ASSERT_OK_AND_ASSIGN(auto node, DataNode::Start(std::move(options)));
  EXPECT_EQ(node->location().ToString(),
            "grpc+tcp://127.0.0.1:" + std::to_string(node->port()));
  ASSERT_OK_AND_ASSIGN(auto client, fl::FlightClient::Connect(node->location()));
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  auto descriptor = fl::FlightDescriptor::Path({"acme", "ads", "0"});
  ASSERT_OK_AND_ASSIGN(auto put, client->DoPut(As("acme"), descriptor, table->schema()));
  ASSERT_OK(put.writer->WriteTable(*table));
  ASSERT_OK(put.writer->Close());
  ASSERT_OK_AND_ASSIGN(auto info, client->GetFlightInfo(As("acme"), descriptor));
  ASSERT_EQ(info->endpoints().size(), 1u);
  ASSERT_EQ(info->endpoints()[0].locations.size(), 1u);
  EXPECT_EQ(info->endpoints()[0].locations[0], node->location());

  DataNodeOptions bad;
  bad.advertise = "host:port";
  ASSERT_RAISES(Invalid, DataNode::Start(std::move(bad)).status());
}

}  // namespace
}  // namespace flightdeck::flight
