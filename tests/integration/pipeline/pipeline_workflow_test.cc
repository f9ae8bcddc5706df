// PipelineWorkflow on a real Temporal dev server, a real in-process data node
// and an in-process C++ worker: the committed output equals the DataFrame
// computed directly, history per partition stays small, progress and cancel.
#include "flightdeck/pipeline/pipeline_workflow.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/flight/data_node.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/temporal/client/client.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/testing/embedded_temporal.h"
#include "flightdeck/temporal/worker/worker.h"
#include "unit/pipeline/pipeline_test_util.h"

namespace flightdeck::pipeline {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using testing::ApproxSameTable;

class PipelineWorkflowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = flightdeck::testing::FreshTestDir("fd-pipeline-wf");
    fs::create_directories(dir_ / "node");
    flight::DataNodeOptions node_options;
    node_options.store.data_dir = (dir_ / "node").string();
    ASSERT_OK_AND_ASSIGN(node_, flight::DataNode::Start(node_options));
    ASSERT_OK_AND_ASSIGN(server_, temporal::EmbeddedTemporal::Start({}));
    ASSERT_OK_AND_ASSIGN(conn_, temporal::Connection::Connect({.target = server_->target()}));
    ASSERT_OK_AND_ASSIGN(client_, temporal::Client::Make(conn_));
    ASSERT_OK_AND_ASSIGN(worker_, temporal::Worker::Make(conn_, {.task_queue = "pipelines"}));
    ASSERT_OK(RegisterPipeline(*worker_));
    ASSERT_OK(worker_->Start());
  }
  void TearDown() override {
    if (worker_) EXPECT_OK(worker_->Shutdown());
    worker_.reset();
    client_.reset();
    conn_.reset();
    if (server_) EXPECT_OK(server_->Stop());
    node_.reset();
    fs::remove_all(dir_);
  }

  std::string SpecText(int64_t rows, int partitions, const std::string& extra_stages = "") {
    return "name: orders\ntenant: acme\nsource:\n  generate: {rows: " + std::to_string(rows) +
           ", seed: 11}\nstages:\n"
           "  - filter: \"amount > 10 and category is not null\"\n"
           "  - with_column: {name: amount_eur, expr: \"amount * 0.92\"}\n" +
           extra_stages + "sink:\n  parquet: " + (dir_ / "out").string() +
           "\npartitions: " + std::to_string(partitions) +
           "\nparallelism: 2\ndurable: true\nretry: {max_attempts: 2, initial_interval_ms: 100}\n"
           "nodes: [" + node_->location().ToString() + "]\ntask_queue: pipelines\n";
  }

  arrow::Result<temporal::WorkflowHandle> Start(const std::string& id, const std::string& spec) {
    return client_->StartWorkflow({.id = id, .type = kPipelineWorkflow, .task_queue = "pipelines"},
                                  spec, std::string("test.yaml"), id);
  }

  int64_t HistoryBytes(const temporal::WorkflowHandle& handle) {
    auto history = client_->GetHistory(handle);
    EXPECT_TRUE(history.ok()) << history.status().ToString();
    return static_cast<int64_t>(history->ByteSizeLong());
  }

  std::shared_ptr<arrow::Table> Expected(const std::string& spec_text) {
    auto spec = ParsePipelineSpec(spec_text, "test.yaml");
    EXPECT_TRUE(spec.ok());
    auto frame = ComputeLocally(*spec);
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    return *frame->Collect();
  }

  std::shared_ptr<arrow::Table> Output() {
    auto frame = frame::DataFrame::Read((dir_ / "out").string(), frame::FileFormat::kParquet);
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    return *frame->Sort({frame::Asc("id")}).Collect();
  }

  fs::path dir_;
  std::unique_ptr<flight::DataNode> node_;
  std::unique_ptr<temporal::EmbeddedTemporal> server_;
  std::shared_ptr<temporal::Connection> conn_;
  std::shared_ptr<temporal::Client> client_;
  std::unique_ptr<temporal::Worker> worker_;
};

TEST_F(PipelineWorkflowTest, OutputEqualsTheDataFrameAndHistoryIsSmallPerPartition) {
  const std::string small = SpecText(20'000, 4);
  ASSERT_OK_AND_ASSIGN(auto handle, Start("run-small", small));
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, client_->GetResult<nlohmann::json>(handle));
  auto expected = *frame::DataFrame::FromTable(Expected(small)).Sort({frame::Asc("id")}).Collect();
  auto actual = Output();
  EXPECT_EQ(result.at("rows").get<int64_t>(), expected->num_rows());
  EXPECT_EQ(result.at("parts").size(), 4u);
  EXPECT_TRUE(actual->Equals(*expected, /*check_metadata=*/false));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "_SUCCESS"));

  ASSERT_OK_AND_ASSIGN(auto progress,
                       client_->Query<nlohmann::json>(handle, kProgressQuery));
  EXPECT_EQ(progress.at("phase"), "done");
  EXPECT_EQ(progress.at("partitions_done").get<int64_t>(), 4);

  // Ten times the rows: the history does not grow with the data.
  const std::string big = SpecText(200'000, 4);
  ASSERT_OK_AND_ASSIGN(auto big_handle, Start("run-big", big));
  ASSERT_OK_AND_ASSIGN(nlohmann::json big_result, client_->GetResult<nlohmann::json>(big_handle));
  EXPECT_GT(big_result.at("rows").get<int64_t>(), 9 * result.at("rows").get<int64_t>());
  const int64_t small_bytes = HistoryBytes(handle);
  const int64_t big_bytes = HistoryBytes(big_handle);
  // Only digits of counts and a different run id may differ.
  EXPECT_LT(std::abs(big_bytes - small_bytes), 400) << small_bytes << " vs " << big_bytes;
  // What the activities answer (DatasetRefs, staged part names) stays at a
  // few hundred bytes each, whatever the data size.
  ASSERT_OK_AND_ASSIGN(auto history, client_->GetHistory(big_handle));
  int completed = 0;
  for (const auto& event : history.events()) {
    if (!event.has_activity_task_completed_event_attributes()) continue;
    int64_t result_bytes = 0;
    for (const auto& payload : event.activity_task_completed_event_attributes().result().payloads()) {
      result_bytes += static_cast<int64_t>(payload.data().size());
    }
    EXPECT_LT(result_bytes, 400) << event.DebugString();
    ++completed;
  }
  EXPECT_EQ(completed, 4 * 3 + 1);  // extract, transform, load per partition; commit
  std::cout << "history: " << small_bytes << " bytes for 20k rows, " << big_bytes
            << " bytes for 200k rows (4 partitions)" << std::endl;
}

TEST_F(PipelineWorkflowTest, AggregateAcrossPartitions) {
  const std::string spec = SpecText(
      30'000, 3,
      "  - aggregate: {by: [category], aggs: {total: \"sum(amount_eur)\", n: \"count(*)\"}}\n");
  ASSERT_OK_AND_ASSIGN(auto handle, Start("run-agg", spec));
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, client_->GetResult<nlohmann::json>(handle));
  auto expected = Expected(spec);
  auto frame = *frame::DataFrame::Read((dir_ / "out").string(), frame::FileFormat::kParquet);
  auto actual = *frame.Sort({frame::Asc("category")}).Collect();
  auto sorted = *frame::DataFrame::FromTable(expected).Sort({frame::Asc("category")}).Collect();
  EXPECT_EQ(result.at("parts").size(), 1u);
  EXPECT_TRUE(ApproxSameTable(*actual, *sorted))
      << actual->ToString() << "\n" << sorted->ToString();
}

TEST_F(PipelineWorkflowTest, InvalidSpecFailsWithLineAndCancelEndsTheRun) {
  ASSERT_OK_AND_ASSIGN(auto bad, Start("run-bad", "name: x\nsource:\n  nowhere: 1\n"));
  auto outcome = client_->GetResult<nlohmann::json>(bad);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("test.yaml:"), std::string::npos)
      << outcome.status().ToString();
  // Its activities go to the spec's task queue, where no worker polls: they
  // stay scheduled until the run is canceled.
  std::string spec = SpecText(1'000, 2);
  spec.replace(spec.find("task_queue: pipelines"), 21, "task_queue: nobody-polls");
  ASSERT_OK_AND_ASSIGN(auto handle,
                       client_->StartWorkflow({.id = "run-cancel", .type = kPipelineWorkflow,
                                               .task_queue = "pipelines"},
                                              spec, std::string("test.yaml"),
                                              std::string("run-cancel")));
  ASSERT_TRUE(flightdeck::testing::WaitFor(
      [&] {
        auto described = client_->Describe(handle);
        return described.ok() && described->pending_activities_size() == 2;
      },
      30s));
  ASSERT_OK_AND_ASSIGN(auto progress, client_->Query<nlohmann::json>(handle, kProgressQuery));
  EXPECT_EQ(progress.at("phase"), "partitions");
  EXPECT_EQ(progress.at("partitions_done").get<int64_t>(), 0);
  ASSERT_OK(client_->Cancel(handle));
  auto canceled = client_->GetResult<nlohmann::json>(handle);
  ASSERT_FALSE(canceled.ok());
  EXPECT_TRUE(canceled.status().IsCancelled()) << canceled.status().ToString();
  EXPECT_FALSE(fs::exists(dir_ / "out" / "_SUCCESS"));
}

}  // namespace
}  // namespace flightdeck::pipeline
