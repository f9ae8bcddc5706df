// pipeline_processes.h: a pipeline deployment made of real processes for
// fault and CLI tests: a Temporal dev server (its SQLite state in the test's
// folder, so it can be killed and restarted on the same file and port), a
// `flightdeck node` process (restartable on the same data dir and port), any
// number of `flightdeck worker` processes, and the `flightdeck` CLI. Every
// wait is on a condition with a deadline. Everything is stopped and the
// folder removed in TearDown.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/subprocess.h"
#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/frame/data_frame.h"
#include "flightdeck/pipeline/pipeline_workflow.h"
#include "flightdeck/pipeline/spec.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/temporal/client/client.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/testing/embedded_temporal.h"

namespace flightdeck::pipeline::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Seconds since `since`, for the test log.
inline double SecondsSince(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

/// What a sink folder holds, by kind of entry.
struct SinkListing {
  std::vector<std::string> parts;   // top-level part-* files, sorted
  std::vector<std::string> others;  // any other top-level entry but _SUCCESS
  std::string success;              // content of _SUCCESS, "" when absent
  bool exists = false;
};

inline SinkListing ListSink(const fs::path& sink) {
  SinkListing listing;
  std::error_code ec;
  listing.exists = fs::exists(sink, ec);
  if (!listing.exists) return listing;
  for (const auto& entry : fs::directory_iterator(sink, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == "_SUCCESS") {
      listing.success = ReadText(entry.path());
    } else if (name.rfind("part-", 0) == 0) {
      listing.parts.push_back(name);
    } else {
      listing.others.push_back(name);
    }
  }
  std::sort(listing.parts.begin(), listing.parts.end());
  std::sort(listing.others.begin(), listing.others.end());
  return listing;
}

class PipelineProcessTest : public ::testing::Test {
 protected:
  static constexpr char kQueue[] = "fault-pipelines";

  void SetUp() override {
    const char* binary = std::getenv("FLIGHTDECK_BINARY");
    ASSERT_NE(binary, nullptr) << "FLIGHTDECK_BINARY is not set";
    binary_ = binary;
    dir_ = flightdeck::testing::FreshTestDir("fd-pipeline-proc");
    fs::create_directories(dir_ / "temporal");
    fs::create_directories(dir_ / "node");
    ASSERT_OK(StartServer(0));
    ASSERT_OK(StartNode(0));
  }

  void TearDown() override {
    for (auto& [name, worker] : workers_) {
      if (worker) EXPECT_OK(worker->Stop());
    }
    workers_.clear();
    if (node_) EXPECT_OK(node_->Stop());
    client_.reset();
    conn_.reset();
    if (server_) EXPECT_OK(server_->Stop());
    server_.reset();
    if (HasFailure()) {
      std::cout << "logs and data kept in " << dir_.string() << std::endl;
    } else {
      fs::remove_all(dir_);
    }
  }

  // --- Temporal ---------------------------------------------------------

  /// Starts the dev server on `port` (0: a free one) over the SQLite state in
  /// dir_/temporal, and (re)connects the test's client.
  arrow::Status StartServer(int port) {
    temporal::EmbeddedTemporalOptions options;
    options.state_dir = (dir_ / "temporal").string();
    options.port = port;
    ARROW_ASSIGN_OR_RAISE(server_, temporal::EmbeddedTemporal::Start(options));
    if (!conn_) {
      ARROW_ASSIGN_OR_RAISE(conn_, temporal::Connection::Connect({.target = server_->target()}));
      ARROW_ASSIGN_OR_RAISE(client_, temporal::Client::Make(conn_));
    }
    return arrow::Status::OK();
  }

  // --- data node --------------------------------------------------------

  /// Starts `flightdeck node` on `port` (0: a free one) over dir_/node and
  /// waits for its first line, which names its location.
  arrow::Status StartNode(int port) {
    const fs::path log = dir_ / ("node-" + std::to_string(++node_starts_) + ".log");
    ARROW_ASSIGN_OR_RAISE(
        node_, Subprocess::Start({.argv = {binary_, "node", "--port", std::to_string(port),
                                           "--data-dir", (dir_ / "node").string()},
                                  .log_path = log.string()}));
    const std::string marker = "listening on ";
    if (!flightdeck::testing::WaitFor(
            [&] {
              const std::string text = ReadText(log);
              return text.find(marker) != std::string::npos &&
                     text.find('\n', text.find(marker)) != std::string::npos;
            },
            60s)) {
      return arrow::Status::IOError("the data node did not start: ", ReadText(log));
    }
    const std::string text = ReadText(log);
    const size_t at = text.find(marker) + marker.size();
    location_ = text.substr(at, text.find('\n', at) - at);
    return arrow::Status::OK();
  }

  int NodePort() const { return std::stoi(location_.substr(location_.rfind(':') + 1)); }

  // --- workers ----------------------------------------------------------

  /// Starts `flightdeck worker` `name` on kQueue and waits until it polls.
  arrow::Status StartWorker(const std::string& name) {
    const fs::path log = dir_ / ("worker-" + name + ".log");
    ARROW_ASSIGN_OR_RAISE(
        auto worker, Subprocess::Start({.argv = {binary_, "worker", "--target", server_->target(),
                                                 "--task-queue", kQueue},
                                        .log_path = log.string()}));
    if (!flightdeck::testing::WaitFor(
            [&] { return ReadText(log).find("worker polling") != std::string::npos; }, 60s)) {
      return arrow::Status::IOError("worker ", name, " did not start: ", ReadText(log));
    }
    workers_[name] = std::move(worker);
    return arrow::Status::OK();
  }

  /// SIGKILLs worker `name` (its whole process group) and reaps it.
  arrow::Status KillWorker(const std::string& name) {
    auto& worker = workers_.at(name);
    ARROW_RETURN_NOT_OK(worker->Signal(SIGKILL));
    ARROW_ASSIGN_OR_RAISE(int status, worker->Wait(30s));
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      return arrow::Status::IOError("worker ", name, " ended with ", DescribeWaitStatus(status));
    }
    return arrow::Status::OK();
  }

  /// The identity a worker process writes into history ("<pid>@<host>").
  std::string IdentityPrefix(const std::string& name) {
    return std::to_string(workers_.at(name)->pid()) + "@";
  }

  // --- the CLI ----------------------------------------------------------

  /// Runs `flightdeck args...` to its end; returns the exit code (-1 when it
  /// did not exit normally) and its stdout+stderr in `out`.
  int RunCli(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), binary_);
    const fs::path log = dir_ / ("cli-" + std::to_string(++cli_calls_) + ".log");
    auto process = Subprocess::Start({.argv = args, .log_path = log.string()});
    EXPECT_TRUE(process.ok()) << process.status().ToString();
    if (!process.ok()) return -1;
    auto status = (*process)->Wait(120s);
    EXPECT_TRUE(status.ok()) << status.status().ToString();
    *out = ReadText(log);
    return status.ok() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

  // --- pipelines --------------------------------------------------------

  struct SpecOptions {
    int64_t rows = 600'000;
    int partitions = 6;
    int parallelism = 1;
    bool durable = true;
    std::string sink_format = "parquet";
  };

  /// A filter / derive / select pipeline over generated orders into
  /// dir_/<sink>, on kQueue, with quick and plentiful retries.
  std::string SpecText(const std::string& sink, const SpecOptions& options) {
    return "name: faults\ntenant: acme\nsource:\n  generate: {rows: " +
           std::to_string(options.rows) + ", seed: 17}\nstages:\n"
           "  - filter: \"amount > 20 and category is not null\"\n"
           "  - with_column: {name: amount_eur, expr: \"amount * 0.92\"}\n"
           "  - select: [id, customer, category, amount_eur]\n"
           "sink:\n  " + options.sink_format + ": " + (dir_ / sink).string() +
           "\npartitions: " + std::to_string(options.partitions) +
           "\nparallelism: " + std::to_string(options.parallelism) +
           "\ndurable: " + (options.durable ? "true" : "false") +
           "\nretry: {max_attempts: 100, initial_interval_ms: 100, backoff: 1.5, "
           "max_interval_ms: 1000}\nnodes: [" + location_ + "]\ntask_queue: " + kQueue + "\n";
  }

  /// Starts run `id` of `spec_text` through `flightdeck run` (no --wait).
  void StartRun(const std::string& id, const std::string& spec_text) {
    const fs::path path = dir_ / (id + ".yaml");
    std::ofstream(path) << spec_text;
    std::string out;
    ASSERT_EQ(RunCli({"run", path.string(), "--target", server_->target(), "--id", id}, &out), 0)
        << out;
    ASSERT_NE(out.find("workflow id: " + id), std::string::npos) << out;
  }

  /// The run's progress query, or an error (no worker, server down).
  arrow::Result<nlohmann::json> Progress(const std::string& id) {
    return client_->Query<nlohmann::json>({.workflow_id = id}, kProgressQuery);
  }

  /// Waits until run `id` has some but not all partitions done; returns the
  /// number done. Fails the test when the run got past that window.
  int64_t WaitForPartialProgress(const std::string& id, int64_t partitions) {
    int64_t done = -1;
    std::string phase;
    const bool reached = flightdeck::testing::WaitFor(
        [&] {
          auto progress = Progress(id);
          if (!progress.ok()) return false;
          done = progress->value("partitions_done", int64_t{0});
          phase = progress->value("phase", std::string());
          return done >= 1 || phase != "partitions";
        },
        120s);
    EXPECT_TRUE(reached) << "no progress in run " << id;
    EXPECT_EQ(phase, "partitions") << "run " << id << " got past its partitions first";
    EXPECT_LT(done, partitions);
    return done;
  }

  /// Waits up to `timeout` for the result of run `id`.
  arrow::Result<nlohmann::json> WaitResult(const std::string& id) {
    return client_->GetResult<nlohmann::json>({.workflow_id = id});
  }

  /// Activity events of run `id` of `type` (e.g. EVENT_TYPE_ACTIVITY_TASK_COMPLETED).
  std::vector<::temporal::api::history::v1::HistoryEvent> Events(
      const std::string& id, ::temporal::api::enums::v1::EventType type) {
    std::vector<::temporal::api::history::v1::HistoryEvent> events;
    auto history = client_->GetHistory({.workflow_id = id});
    EXPECT_TRUE(history.ok()) << history.status().ToString();
    if (!history.ok()) return events;
    for (const auto& event : history->events()) {
      if (event.event_type() == type) events.push_back(event);
    }
    return events;
  }

  int CompletedActivities(const std::string& id) {
    return static_cast<int>(
        Events(id, ::temporal::api::enums::v1::EVENT_TYPE_ACTIVITY_TASK_COMPLETED).size());
  }

  /// Scheduled activities of run `id` by type name.
  std::map<std::string, int> ScheduledByType(const std::string& id) {
    std::map<std::string, int> counts;
    for (const auto& event :
         Events(id, ::temporal::api::enums::v1::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)) {
      counts[event.activity_task_scheduled_event_attributes().activity_type().name()] += 1;
    }
    return counts;
  }

  /// Waits until run `id` completes more activities than `completed_at_fault`
  /// and returns the seconds since `fault` (for the log, never asserted).
  double SecondsToResumedProgress(const std::string& id, int completed_at_fault,
                                  std::chrono::steady_clock::time_point fault) {
    const bool resumed = flightdeck::testing::WaitFor(
        [&] {
          auto history = client_->GetHistory({.workflow_id = id});
          if (!history.ok()) return false;
          int completed = 0;
          for (const auto& event : history->events()) {
            completed += event.has_activity_task_completed_event_attributes() ? 1 : 0;
          }
          return completed > completed_at_fault;
        },
        180s);
    EXPECT_TRUE(resumed) << "run " << id << " made no progress after the fault";
    return SecondsSince(fault);
  }

  /// Reads every part file of a sink, in part order.
  std::vector<std::shared_ptr<arrow::Table>> ReadParts(const fs::path& sink,
                                                       const std::string& format) {
    std::vector<std::shared_ptr<arrow::Table>> tables;
    auto parsed = frame::ParseFileFormat(format == "ipc" ? "arrow" : format);
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
    for (const auto& name : ListSink(sink).parts) {
      auto frame = frame::DataFrame::Read((sink / name).string(), *parsed);
      EXPECT_TRUE(frame.ok()) << frame.status().ToString();
      auto table = frame->Collect();
      EXPECT_TRUE(table.ok()) << table.status().ToString();
      tables.push_back(*table);
    }
    return tables;
  }

  /// Asserts that the committed sink of run `id` holds exactly the output of
  /// the pipeline: one _SUCCESS naming the run, `parts` part files and
  /// nothing else (no staging, no temporary files), every row once (ids
  /// unique), and the same rows as the DataFrame computed directly.
  void ExpectCommittedExactlyOnce(const std::string& id, const std::string& spec_text,
                                  const fs::path& sink, const std::string& format,
                                  size_t parts) {
    const SinkListing listing = ListSink(sink);
    EXPECT_EQ(listing.success, id + "\n");
    EXPECT_EQ(listing.parts.size(), parts);
    EXPECT_TRUE(listing.others.empty()) << "left in the sink: " << listing.others.front();
    ASSERT_OK_AND_ASSIGN(auto spec, ParsePipelineSpec(spec_text, id + ".yaml"));
    ASSERT_OK_AND_ASSIGN(auto local, ComputeLocally(spec));
    ASSERT_OK_AND_ASSIGN(auto expected, local.Sort({frame::Asc("id")}).Collect());
    std::vector<std::shared_ptr<arrow::Table>> tables = ReadParts(sink, format);
    ASSERT_FALSE(tables.empty());
    ASSERT_OK_AND_ASSIGN(auto all, arrow::ConcatenateTables(tables));
    ASSERT_OK_AND_ASSIGN(auto sorted,
                         frame::DataFrame::FromTable(all).Sort({frame::Asc("id")}).Collect());
    ASSERT_EQ(sorted->num_rows(), expected->num_rows());
    ASSERT_OK_AND_ASSIGN(auto distinct,
                         frame::DataFrame::FromTable(all).Select({"id"}).Distinct().Collect());
    EXPECT_EQ(distinct->num_rows(), all->num_rows()) << "duplicated rows in the sink";
    EXPECT_TRUE(sorted->Equals(*expected, /*check_metadata=*/false));
  }

  /// Asserts that two runs of the same pipeline gave the same result (rows,
  /// checksums of every dataset, staged part names) and that their sinks
  /// hold the same part files with the same content.
  void ExpectSameOutput(const nlohmann::json& result, const nlohmann::json& reference,
                        const fs::path& sink, const fs::path& reference_sink,
                        const std::string& format) {
    EXPECT_EQ(result.at("rows"), reference.at("rows"));
    EXPECT_EQ(result.at("bytes"), reference.at("bytes"));
    EXPECT_EQ(result.at("checksums"), reference.at("checksums"));
    EXPECT_EQ(result.at("parts").size(), reference.at("parts").size());
    EXPECT_EQ(ListSink(sink).parts, ListSink(reference_sink).parts);
    const auto tables = ReadParts(sink, format);
    const auto reference_tables = ReadParts(reference_sink, format);
    ASSERT_EQ(tables.size(), reference_tables.size());
    for (size_t i = 0; i < tables.size(); ++i) {
      EXPECT_TRUE(tables[i]->Equals(*reference_tables[i], /*check_metadata=*/false))
          << "part " << i << " differs from the fault-free run's";
    }
    // Byte for byte, too: the same batches written the same way.
    for (const auto& name : ListSink(sink).parts) {
      EXPECT_EQ(ReadText(sink / name), ReadText(reference_sink / name)) << name;
    }
  }

  std::string binary_;
  fs::path dir_;
  std::string location_;
  int node_starts_ = 0;
  int cli_calls_ = 0;
  std::unique_ptr<temporal::EmbeddedTemporal> server_;
  std::shared_ptr<temporal::Connection> conn_;
  std::shared_ptr<temporal::Client> client_;
  std::unique_ptr<Subprocess> node_;
  std::map<std::string, std::unique_ptr<Subprocess>> workers_;
};

}  // namespace flightdeck::pipeline::testing
