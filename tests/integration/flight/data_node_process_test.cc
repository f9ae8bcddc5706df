// `flightdeck node` as a separate process, killed with SIGKILL and restarted
// on the same data dir: durable datasets come back byte for byte, a put cut
// off mid-stream leaves nothing, and a memory budget smaller than the data
// spills to disk and reads back equal.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <arrow/flight/client.h>
#include <arrow/table.h>
#include <arrow/util/byte_size.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/subprocess.h"
#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/flight/caller.h"
#include "flightdeck/frame/generate.h"

namespace flightdeck::flight {
namespace {

namespace fl = arrow::flight;
namespace fs = std::filesystem;
using json = nlohmann::json;

fl::FlightCallOptions AsAcme() {
  fl::FlightCallOptions options;
  options.headers.emplace_back(kTenantHeader, "acme");
  return options;
}

// One `flightdeck node` process and a client connected to it.
struct NodeProcess {
  std::unique_ptr<Subprocess> process;
  std::unique_ptr<fl::FlightClient> client;
  fl::Location location;
  std::string log;
};

class DataNodeProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::flightdeck::testing::FreshTestDir("fd-node-process");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Starts a node with `args` and waits (with a deadline) for its first line.
  arrow::Result<NodeProcess> StartNode(std::vector<std::string> args) {
    const char* binary = std::getenv("FLIGHTDECK_BINARY");
    if (!binary) return arrow::Status::Invalid("FLIGHTDECK_BINARY is not set");
    NodeProcess node;
    node.log = (dir_ / ("node-" + std::to_string(++starts_) + ".log")).string();
    std::vector<std::string> argv = {binary, "node", "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    ARROW_ASSIGN_OR_RAISE(node.process, Subprocess::Start({.argv = argv, .log_path = node.log}));
    const std::regex listening("listening on (grpc\\+tcp://\\S+)");
    std::smatch match;
    std::string text;
    bool up = testing::WaitFor(
        [&] {
          std::ifstream in(node.log);
          std::stringstream ss;
          ss << in.rdbuf();
          text = ss.str();
          return std::regex_search(text, match, listening) || !node.process->Running();
        },
        std::chrono::seconds(30));
    if (!up || match.empty()) return arrow::Status::IOError("node did not start; log:\n", text);
    ARROW_ASSIGN_OR_RAISE(node.location, fl::Location::Parse(match[1].str()));
    ARROW_ASSIGN_OR_RAISE(node.client, fl::FlightClient::Connect(node.location));
    return node;
  }

  static arrow::Result<json> Put(fl::FlightClient& client, const std::string& command,
                                 const arrow::Table& table) {
    ARROW_ASSIGN_OR_RAISE(auto put, client.DoPut(AsAcme(), fl::FlightDescriptor::Command(command),
                                                 table.schema()));
    ARROW_RETURN_NOT_OK(put.writer->WriteTable(table, 64 * 1024));
    ARROW_RETURN_NOT_OK(put.writer->DoneWriting());
    std::shared_ptr<arrow::Buffer> metadata;
    ARROW_RETURN_NOT_OK(put.reader->ReadMetadata(&metadata));
    ARROW_RETURN_NOT_OK(put.writer->Close());
    if (!metadata) return arrow::Status::Invalid("no put metadata");
    return json::parse(metadata->ToString());
  }

  static std::string Command(const std::string& partition, bool durable) {
    return json{{"tenant", "acme"}, {"dataset", "orders"}, {"partition", partition},
                {"durable", durable}}
        .dump();
  }

  static arrow::Result<std::shared_ptr<arrow::Table>> Get(fl::FlightClient& client,
                                                          const std::string& ticket) {
    ARROW_ASSIGN_OR_RAISE(auto stream, client.DoGet(AsAcme(), fl::Ticket{ticket}));
    return stream->ToTable();
  }

  static arrow::Result<json> Stats(fl::FlightClient& client) {
    ARROW_ASSIGN_OR_RAISE(auto results, client.DoAction(AsAcme(), fl::Action{"stats", nullptr}));
    ARROW_ASSIGN_OR_RAISE(auto result, results->Next());
    return json::parse(result->body->ToString());
  }

  fs::path dir_;
  int starts_ = 0;
};

TEST_F(DataNodeProcessTest, PersistedDatasetsSurviveSigkillByteForByte) {
  const std::string data_dir = (dir_ / "data").string();
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 300'000}));
  ASSERT_OK_AND_ASSIGN(auto node, StartNode({"--data-dir", data_dir}));
  ASSERT_OK_AND_ASSIGN(json durable, Put(*node.client, Command("0", true), *table));
  ASSERT_OK_AND_ASSIGN(json later, Put(*node.client, Command("1", false), *table));
  ASSERT_OK_AND_ASSIGN(auto results,
                       node.client->DoAction(AsAcme(), fl::Action{"persist", arrow::Buffer::FromString(
                                                                     json{{"ticket", later["ticket"]}}.dump())}));
  ASSERT_OK_AND_ASSIGN(auto persisted, results->Next());
  EXPECT_TRUE(json::parse(persisted->body->ToString())["durable"].get<bool>());
  ASSERT_OK_AND_ASSIGN(json transient, Put(*node.client, Command("2", false), *table));
  ASSERT_OK(node.client->Close());
  ASSERT_OK(node.process->Signal(SIGKILL));
  ASSERT_OK(node.process->Wait(std::chrono::seconds(30)));

  ASSERT_OK_AND_ASSIGN(auto again, StartNode({"--data-dir", data_dir}));
  for (const json& summary : {durable, later}) {
    ASSERT_OK_AND_ASSIGN(auto read, Get(*again.client, summary["ticket"]));
    EXPECT_TRUE(read->Equals(*table));
  }
  ASSERT_OK_AND_ASSIGN(auto info, again.client->GetFlightInfo(
                                      AsAcme(), fl::FlightDescriptor::Path({"acme", "orders", "0"})));
  EXPECT_EQ(info->total_records(), 300'000);
  EXPECT_EQ(info->total_bytes(), durable["bytes"].get<int64_t>());
  ASSERT_RAISES(KeyError, Get(*again.client, transient["ticket"]));
  ASSERT_OK_AND_ASSIGN(json stats, Stats(*again.client));
  EXPECT_EQ(stats["datasets_durable"], 2);
  EXPECT_EQ(stats["datasets_corrupt"], 0);
  ASSERT_OK(again.client->Close());
}

TEST_F(DataNodeProcessTest, SigkillDuringADurablePutLeavesNothingAfterRestart) {
  const std::string data_dir = (dir_ / "data").string();
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 200'000}));
  ASSERT_OK_AND_ASSIGN(auto node, StartNode({"--data-dir", data_dir}));
  ASSERT_OK_AND_ASSIGN(auto put, node.client->DoPut(AsAcme(), fl::FlightDescriptor::Command(
                                                                  Command("0", true)),
                                                    table->schema()));
  arrow::TableBatchReader batches(*table);
  batches.set_chunksize(10'000);
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(auto batch, batches.Next());
    ASSERT_OK(put.writer->WriteRecordBatch(*batch));
  }
  // The node has received part of the stream: it counts a put in flight
  // holding memory.
  ASSERT_OK_AND_ASSIGN(auto observer, fl::FlightClient::Connect(node.location));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto stats = Stats(*observer);
        return stats.ok() && (*stats)["memory_reserved_by_puts_bytes"].get<int64_t>() > 0;
      },
      std::chrono::seconds(30)));
  ASSERT_OK(node.process->Signal(SIGKILL));
  ASSERT_OK(node.process->Wait(std::chrono::seconds(30)));
  EXPECT_FALSE(put.writer->Close().ok());
  (void)observer->Close();

  ASSERT_OK_AND_ASSIGN(auto again, StartNode({"--data-dir", data_dir}));
  ASSERT_OK_AND_ASSIGN(auto listing, again.client->ListFlights(AsAcme(), fl::Criteria{""}));
  ASSERT_OK_AND_ASSIGN(auto first, listing->Next());
  EXPECT_EQ(first, nullptr);
  ASSERT_OK_AND_ASSIGN(json stats, Stats(*again.client));
  EXPECT_EQ(stats["datasets"], 0);
  EXPECT_EQ(stats["disk_used_bytes"], 0);
  ASSERT_RAISES(KeyError, again.client->GetFlightInfo(
                              AsAcme(), fl::FlightDescriptor::Path({"acme", "orders", "0"})));
  EXPECT_TRUE(fs::is_empty(fs::path(data_dir) / "durable"));
  ASSERT_OK(again.client->Close());
}

TEST_F(DataNodeProcessTest, BudgetSmallerThanTheDataSpillsAndReadsBackEqual) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 200'000}));
  const int64_t bytes = arrow::util::TotalBufferSize(*table);
  ASSERT_OK_AND_ASSIGN(auto node, StartNode({"--data-dir", (dir_ / "data").string(),
                                             "--memory-budget", std::to_string(bytes * 3 / 2),
                                             "--compression", "zstd"}));
  std::vector<json> puts;
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(json summary, Put(*node.client, Command(std::to_string(i), false), *table));
    puts.push_back(summary);
  }
  ASSERT_OK_AND_ASSIGN(json stats, Stats(*node.client));
  EXPECT_LE(stats["memory_used_bytes"].get<int64_t>(), bytes * 3 / 2);
  EXPECT_GE(stats["spills"].get<int64_t>(), 3);
  EXPECT_GT(stats["disk_used_bytes"].get<int64_t>(), 0);
  for (const json& summary : puts) {
    ASSERT_OK_AND_ASSIGN(auto read, Get(*node.client, summary["ticket"]));
    EXPECT_TRUE(read->Equals(*table));
  }
  ASSERT_OK(node.client->Close());
}

}  // namespace
}  // namespace flightdeck::flight
