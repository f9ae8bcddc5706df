// `flightdeck demo`: the main job on the embedded default. Starts a Temporal
// dev server and a data node, moves a generated table through Flight, checks
// it came back equal, prints what happened, and stops what it started.
#include <chrono>
#include <cstdio>
#include <iostream>

#include <arrow/flight/client.h>
#include <arrow/table.h>
#include <arrow/util/byte_size.h>

#include "flightdeck/cli/commands.h"
#include "flightdeck/flight/data_node.h"
#include "flightdeck/frame/generate.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/testing/embedded_temporal.h"

namespace flightdeck::cli {
namespace {

namespace fl = arrow::flight;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

void Line(const char* what, const std::string& text) {
  std::printf("  %-10s %s\n", what, text.c_str());
  std::fflush(stdout);
}

std::string Rate(int64_t rows, int64_t bytes, double seconds) {
  char buffer[160];
  std::snprintf(buffer, sizeof(buffer), "%lld rows, %.1f MB in %.3f s: %.0f MB/s, %.2f M rows/s",
                static_cast<long long>(rows), bytes / 1e6, seconds, bytes / 1e6 / seconds,
                rows / 1e6 / seconds);
  return buffer;
}

struct DemoOptions {
  int64_t rows = 2'000'000;
  std::string state_dir;
};

void RunDemo(const DemoOptions& options) {
  std::cout << "flightdeck demo" << std::endl;

  temporal::EmbeddedTemporalOptions temporal_options;
  temporal_options.state_dir = options.state_dir;
  auto server = temporal::EmbeddedTemporal::Start(temporal_options);
  Check(server.status(), "cannot start the Temporal dev server");
  auto conn = temporal::Connection::Connect({.target = (*server)->target()});
  Check(conn.status(), "cannot connect to Temporal");
  auto info = (*conn)->GetSystemInfo();
  Check(info.status(), "GetSystemInfo");
  Line("temporal", "dev server " + info->server_version() + " at " + (*server)->target() +
                       " (pid " + std::to_string((*server)->pid()) + ")");

  auto node = flight::DataNode::Start({});
  Check(node.status(), "cannot start the data node");
  Line("data node", (*node)->location().ToString());

  auto started = Clock::now();
  frame::GenerateOptions generate;
  generate.rows = options.rows;
  auto table = frame::GenerateOrders(generate);
  Check(table.status(), "generating data");
  const int64_t bytes = arrow::util::TotalBufferSize(**table);
  Line("generated", Rate((*table)->num_rows(), bytes, Seconds(started)));

  auto client = fl::FlightClient::Connect((*node)->location());
  Check(client.status(), "connecting to the data node");
  auto descriptor = fl::FlightDescriptor::Path({"default", "orders", "0"});

  started = Clock::now();
  auto put = (*client)->DoPut(descriptor, (*table)->schema());
  Check(put.status(), "DoPut");
  arrow::TableBatchReader batches(**table);
  std::shared_ptr<arrow::RecordBatch> batch;
  while (true) {
    Check(batches.ReadNext(&batch), "reading generated batches");
    if (!batch) break;
    Check(put->writer->WriteRecordBatch(*batch), "DoPut write");
  }
  Check(put->writer->DoneWriting(), "DoPut finish");
  Check(put->writer->Close(), "DoPut close");
  Line("DoPut", Rate((*table)->num_rows(), bytes, Seconds(started)));

  auto flight_info = (*client)->GetFlightInfo(descriptor);
  Check(flight_info.status(), "GetFlightInfo");
  started = Clock::now();
  auto stream = (*client)->DoGet((*flight_info)->endpoints()[0].ticket);
  Check(stream.status(), "DoGet");
  auto read = (*stream)->ToTable();
  Check(read.status(), "DoGet read");
  Line("DoGet", Rate((*read)->num_rows(), arrow::util::TotalBufferSize(**read),
                     Seconds(started)));

  if (!(*read)->Equals(**table)) throw CommandFailed("the table read back differs");
  Line("verified", std::to_string((*read)->num_rows()) +
                       " rows read back equal to what was written");

  Check((*client)->Close(), "closing the Flight client");
  Check((*node)->Shutdown(), "data node shutdown");
  Check((*server)->Stop(), "temporal dev server stop");
  Line("stopped", "data node, temporal dev server");
}

}  // namespace

void AddDemoCommand(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Start Temporal and a data node, move generated data through Flight, stop");
  cmd->add_option("--rows", options->rows, "Rows to generate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--state-dir", options->state_dir,
                  "Folder for the Temporal state (default: temporary)");
  cmd->callback([options] { RunDemo(*options); });
}

}  // namespace flightdeck::cli
