// PipelineWorkflow on a real Temporal dev server, a real in-process data node
// and an in-process C++ worker: the committed output equals the DataFrame
// computed directly, history per partition stays small, progress and cancel.
#include "flightdeck/pipeline/pipeline_workflow.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <set>

#include <arrow/api.h>
#include <arrow/flight/client.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/flight/data_node.h"
#include "flightdeck/pipeline/activities.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/temporal/client/client.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/testing/embedded_temporal.h"
#include "flightdeck/temporal/worker/replayer.h"
#include "flightdeck/temporal/worker/worker.h"
#include "unit/pipeline/pipeline_test_util.h"

namespace flightdeck::pipeline {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using testing::ApproxSameTable;

// What the activities of one partition may put into history (inputs and
// results, payload metadata included), whatever its rows.
constexpr int64_t kBytesPerPartitionBound = 300;

// The counters a worker reports through its SDK metrics handler.
class RecordedCounters final : public temporal::MetricsHandler {
 public:
  void Count(std::string_view name, const temporal::MetricLabels& labels, double value) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string key(name);
    for (const auto& [label, text] : labels) key += "|" + label + "=" + text;
    counts_[key] += value;
  }
  void Set(std::string_view, const temporal::MetricLabels&, double) override {}
  void RecordMilliseconds(std::string_view, const temporal::MetricLabels&, double) override {}
  double Get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    return counts_[key];
  }

 private:
  std::mutex mutex_;
  std::map<std::string, double> counts_;
};

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
    // No cache: every workflow task replays the run from its history, so
    // these tests also hold the workflow to replaying deterministically
    // (and its metrics to counting once).
    ASSERT_OK_AND_ASSIGN(worker_, temporal::Worker::Make(conn_, {.task_queue = "pipelines",
                                                                 .max_cached_workflows = 0,
                                                                 .metrics_handler = counters_}));
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

  // Bytes of the activity inputs and results in the history of `handle`
  // (whole payloads: data and metadata), except prepare's (the spec's text,
  // once per run), per partition. Only the deterministic payloads count, and
  // each (activity type, partition) once: the input it was last scheduled
  // with and its result. A stage scheduled again (a recompute after a lost
  // input, which timing on a loaded machine can cause) or failed attempts
  // (retry details live in other events) do not change the figure.
  int64_t ActivityBytesPerPartition(const temporal::WorkflowHandle& handle, int partitions) {
    auto history = client_->GetHistory(handle);
    EXPECT_TRUE(history.ok()) << history.status().ToString();
    std::map<int64_t, std::string> key_of_event;  // scheduled event id -> type/partition
    std::map<std::string, int64_t> input_bytes, result_bytes;
    for (const auto& event : history->events()) {
      if (event.has_activity_task_scheduled_event_attributes()) {
        const auto& scheduled = event.activity_task_scheduled_event_attributes();
        if (scheduled.activity_type().name() == kPrepareActivity) continue;
        std::string key = scheduled.activity_type().name();
        if (scheduled.input().payloads_size() > 0) {
          // A stage task: {"spec": ..., "partition": P, ...} (activities.h).
          auto task = nlohmann::json::parse(scheduled.input().payloads(0).data(), nullptr, false);
          if (task.is_object() && task.contains("partition") && task["partition"].is_number_integer()) {
            key += "/" + std::to_string(task["partition"].get<int>());
          }
        }
        key_of_event[event.event_id()] = key;
        input_bytes[key] = static_cast<int64_t>(scheduled.input().ByteSizeLong());
      } else if (event.has_activity_task_completed_event_attributes()) {
        const auto& completed = event.activity_task_completed_event_attributes();
        auto key = key_of_event.find(completed.scheduled_event_id());
        if (key == key_of_event.end()) continue;
        result_bytes[key->second] = static_cast<int64_t>(completed.result().ByteSizeLong());
      }
    }
    int64_t bytes = 0;
    for (const auto& [key, result] : result_bytes) bytes += input_bytes[key] + result;
    return bytes / partitions;
  }

  // How many times activity `type` was scheduled in the history of `handle`.
  int CountScheduled(const temporal::WorkflowHandle& handle, const std::string& type) {
    auto history = client_->GetHistory(handle);
    EXPECT_TRUE(history.ok()) << history.status().ToString();
    int count = 0;
    for (const auto& event : history->events()) {
      if (event.has_activity_task_scheduled_event_attributes() &&
          event.activity_task_scheduled_event_attributes().activity_type().name() == type) {
        ++count;
      }
    }
    return count;
  }

  // Activities of `type` whose completion is in the history.
  int CountCompleted(const temporal::WorkflowHandle& handle, const std::string& type) {
    auto history = client_->GetHistory(handle);
    EXPECT_TRUE(history.ok()) << history.status().ToString();
    std::set<int64_t> scheduled;
    int count = 0;
    for (const auto& event : history->events()) {
      if (event.has_activity_task_scheduled_event_attributes() &&
          event.activity_task_scheduled_event_attributes().activity_type().name() == type) {
        scheduled.insert(event.event_id());
      }
      if (event.has_activity_task_completed_event_attributes() &&
          scheduled.count(event.activity_task_completed_event_attributes().scheduled_event_id())) {
        ++count;
      }
    }
    return count;
  }

  // Replays the history of every run of `handle`'s chain (the runs it
  // continued as new included), recorded by the real server, against the
  // workflow code of this build, as a user checks a change with the
  // replayer before deploying it. Returns the number of runs replayed.
  int ExpectReplays(temporal::WorkflowHandle handle) {
    temporal::workflow::WorkflowRegistry registry;
    EXPECT_OK(registry.Register(kPipelineWorkflow, &PipelineWorkflow));
    for (int runs = 1;; ++runs) {
      auto history = client_->GetHistory(handle);
      EXPECT_TRUE(history.ok()) << history.status().ToString();
      if (!history.ok() || history->events_size() == 0) return runs - 1;
      const arrow::Status replayed = temporal::ReplayHistory(registry, *history, handle.workflow_id);
      EXPECT_TRUE(replayed.ok()) << "run " << runs << ": " << replayed.ToString();
      const auto& last = history->events(history->events_size() - 1);
      if (!last.has_workflow_execution_continued_as_new_event_attributes()) return runs;
      handle.run_id = last.workflow_execution_continued_as_new_event_attributes().new_execution_run_id();
    }
  }

  nlohmann::json Progress(const temporal::WorkflowHandle& handle) {
    auto progress = client_->Query<nlohmann::json>(handle, kProgressQuery);
    return progress.ok() ? *progress : nlohmann::json::object();
  }

  bool Idle(const temporal::WorkflowHandle& handle) {
    auto described = client_->Describe(handle);
    return described.ok() && described->pending_activities_size() == 0;
  }

  // Starts run `id` with the pause signal in history before its first
  // workflow task; returns once the spec is stored and nothing else runs.
  void StartPaused(const std::string& id, const std::string& spec,
                   temporal::WorkflowHandle* handle) {
    ASSERT_OK_AND_ASSIGN(auto pause, temporal::ToPayloads());
    ASSERT_OK_AND_ASSIGN(auto args,
                         temporal::ToPayloads(spec, std::string("test.yaml"), id));
    ASSERT_OK_AND_ASSIGN(*handle, client_->SignalWithStart({.id = id,
                                                            .type = kPipelineWorkflow,
                                                            .task_queue = "pipelines"},
                                                           kPauseSignal, pause, args));
    // Idle alone is not enough: an activity dispatched eagerly with the
    // workflow task can be running while the server lists none pending.
    ASSERT_TRUE(flightdeck::testing::WaitFor(
        [&] { return Idle(*handle) && CountScheduled(*handle, kPrepareActivity) == 1 &&
                     CountCompleted(*handle, kPrepareActivity) == 1 &&
                     Progress(*handle).value("phase", "") == "paused"; },
        30s));
  }

  // The node drops the dataset at `path` (DoAction drop, as an eviction or
  // a restart without it would).
  void Drop(const std::vector<std::string>& path) {
    ASSERT_OK_AND_ASSIGN(auto location,
                         arrow::flight::Location::Parse(node_->location().ToString()));
    ASSERT_OK_AND_ASSIGN(auto flight, arrow::flight::FlightClient::Connect(location));
    arrow::flight::FlightCallOptions call;
    call.headers = {{"x-flightdeck-tenant", "acme"}};
    ASSERT_OK_AND_ASSIGN(auto info,
                         flight->GetFlightInfo(call, arrow::flight::FlightDescriptor::Path(path)));
    const std::string body = nlohmann::json{{"ticket", info->endpoints()[0].ticket.ticket}}.dump();
    ASSERT_OK_AND_ASSIGN(auto results, flight->DoAction(call, arrow::flight::Action{
                                                                  "drop", arrow::Buffer::FromString(body)}));
    ASSERT_OK_AND_ASSIGN(auto dropped, results->Next());
    ASSERT_NE(dropped, nullptr);
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
  std::shared_ptr<RecordedCounters> counters_ = std::make_shared<RecordedCounters>();
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

  // Ten times the rows: the activity inputs and results per partition stay
  // the same few hundred bytes (only digits of counts may differ). (The
  // whole history may differ by a few workflow tasks: how activity
  // completions batch into tasks depends on timing.)
  const std::string big = SpecText(200'000, 4);
  ASSERT_OK_AND_ASSIGN(auto big_handle, Start("run-big", big));
  ASSERT_OK_AND_ASSIGN(nlohmann::json big_result, client_->GetResult<nlohmann::json>(big_handle));
  EXPECT_GT(big_result.at("rows").get<int64_t>(), 9 * result.at("rows").get<int64_t>());
  const int64_t small_per_partition = ActivityBytesPerPartition(handle, 4);
  const int64_t big_per_partition = ActivityBytesPerPartition(big_handle, 4);
  EXPECT_LE(std::abs(big_per_partition - small_per_partition), 16)
      << small_per_partition << " vs " << big_per_partition;
  EXPECT_LT(big_per_partition, kBytesPerPartitionBound);
  const int64_t small_bytes = HistoryBytes(handle);
  const int64_t big_bytes = HistoryBytes(big_handle);
  // prepare; one chain (extract, transform, load) per partition; commit.
  EXPECT_EQ(CountScheduled(big_handle, kPrepareActivity), 1);
  EXPECT_EQ(CountScheduled(big_handle, kPartitionActivity), 4);
  EXPECT_EQ(CountScheduled(big_handle, kLoadActivity), 0);
  EXPECT_EQ(CountScheduled(big_handle, kCommitActivity), 1);
  EXPECT_EQ(ExpectReplays(handle), 1);
  EXPECT_EQ(ExpectReplays(big_handle), 1);
  std::cout << "activity inputs+results per partition: " << small_per_partition
            << " bytes for 20k rows, " << big_per_partition << " bytes for 200k rows; history "
            << small_bytes << " / " << big_bytes << " bytes (4 partitions)" << std::endl;
}

TEST_F(PipelineWorkflowTest, OnePartitionRunsWithoutPrepare) {
  // The partition activity stores the spec itself: two activities on the
  // critical path (the partition's chain, commit), and the spec's text once
  // in history.
  const std::string spec = SpecText(5'000, 1);
  ASSERT_OK_AND_ASSIGN(auto handle, Start("run-one", spec));
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, client_->GetResult<nlohmann::json>(handle));
  auto expected = *frame::DataFrame::FromTable(Expected(spec)).Sort({frame::Asc("id")}).Collect();
  EXPECT_EQ(result.at("rows").get<int64_t>(), expected->num_rows());
  EXPECT_TRUE(Output()->Equals(*expected, /*check_metadata=*/false));
  EXPECT_EQ(CountScheduled(handle, kPrepareActivity), 0);
  EXPECT_EQ(CountScheduled(handle, kPartitionActivity), 1);
  EXPECT_EQ(CountScheduled(handle, kCommitActivity), 1);
  auto history = client_->GetHistory(handle);
  ASSERT_OK(history.status());
  int spec_copies = 0;
  for (const auto& event : history->events()) {
    if (!event.has_activity_task_scheduled_event_attributes()) continue;
    const auto& input = event.activity_task_scheduled_event_attributes().input();
    for (const auto& payload : input.payloads()) {
      spec_copies += payload.data().find("task_queue: pipelines") != std::string::npos;
    }
  }
  EXPECT_EQ(spec_copies, 1);
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
  EXPECT_EQ(ExpectReplays(handle), 1);
}

TEST_F(PipelineWorkflowTest, RetriedActivityKeepsTheOutputAndReplays) {
  // A worker whose first partition activity fails once with a retryable
  // error (an activity interceptor, as a flaky disk or network would): the
  // retry policy runs it again, and the recorded history, with its second
  // attempt, replays.
  ASSERT_OK(worker_->Shutdown());
  std::atomic<int> injected{0};
  temporal::WorkerOptions options{.task_queue = "pipelines"};
  options.activity_interceptors.push_back(
      [&injected](temporal::ActivityContext& ctx, const temporal::Payloads& input,
                  const temporal::ActivityFunction& next) -> arrow::Result<std::optional<temporal::Payload>> {
        if (ctx.info().activity_type == kPartitionActivity && injected.fetch_add(1) == 0) {
          return arrow::Status::IOError("injected: the disk went away for a moment");
        }
        return next(ctx, input);
      });
  ASSERT_OK_AND_ASSIGN(worker_, temporal::Worker::Make(conn_, options));
  ASSERT_OK(RegisterPipeline(*worker_));
  ASSERT_OK(worker_->Start());

  const std::string spec = SpecText(20'000, 3);
  ASSERT_OK_AND_ASSIGN(auto handle, Start("run-retried", spec));
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, client_->GetResult<nlohmann::json>(handle));
  auto expected = *frame::DataFrame::FromTable(Expected(spec)).Sort({frame::Asc("id")}).Collect();
  EXPECT_EQ(result.at("rows").get<int64_t>(), expected->num_rows());
  EXPECT_TRUE(Output()->Equals(*expected, /*check_metadata=*/false));
  ASSERT_OK_AND_ASSIGN(auto history, client_->GetHistory(handle));
  int second_attempts = 0;
  for (const auto& event : history.events()) {
    if (event.has_activity_task_started_event_attributes() &&
        event.activity_task_started_event_attributes().attempt() == 2) {
      ++second_attempts;
    }
  }
  EXPECT_EQ(second_attempts, 1);
  EXPECT_EQ(ExpectReplays(handle), 1);
}

TEST_F(PipelineWorkflowTest, InvalidSpecFailsWithLineAndCancelEndsTheRun) {
  ASSERT_OK_AND_ASSIGN(auto bad, Start("run-bad", "name: x\nsource:\n  nowhere: 1\n"));
  auto outcome = client_->GetResult<nlohmann::json>(bad);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("test.yaml:"), std::string::npos)
      << outcome.status().ToString();
  // Its activities go to the spec's task queue, where no worker polls: the
  // first (prepare, storing the spec) stays scheduled until the run is
  // canceled.
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
        return described.ok() && described->pending_activities_size() == 1;
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

TEST_F(PipelineWorkflowTest, PausedRunStartsNoPartitionUntilResumed) {
  const std::string spec = SpecText(20'000, 3);
  temporal::WorkflowHandle handle;
  ASSERT_NO_FATAL_FAILURE(StartPaused("run-paused", spec, &handle));
  nlohmann::json progress = Progress(handle);
  EXPECT_EQ(progress.at("paused"), true);
  EXPECT_EQ(progress.at("partitions_done").get<int64_t>(), 0);
  EXPECT_TRUE(progress.at("eta_ms").is_null());
  EXPECT_EQ(CountScheduled(handle, kPartitionActivity), 0);

  ASSERT_OK(client_->Signal(handle, kResumeSignal));
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, client_->GetResult<nlohmann::json>(handle));
  auto expected = Expected(spec);
  EXPECT_EQ(result.at("rows").get<int64_t>(), expected->num_rows());
  progress = Progress(handle);
  EXPECT_EQ(progress.at("phase"), "done");
  EXPECT_EQ(progress.at("partitions_done").get<int64_t>(), 3);
  EXPECT_EQ(progress.at("eta_ms").get<int64_t>(), 0);
}

TEST_F(PipelineWorkflowTest, LostPartialOutputIsComputedAgainFromItsPartition) {
  // Not durable: a partition's output lives in the node's memory only.
  std::string spec = SpecText(
      160'000, 8,
      "  - aggregate: {by: [category], aggs: {total: \"sum(amount_eur)\", n: \"count(*)\"}}\n");
  spec.replace(spec.find("durable: true"), 13, "durable: false");
  spec.replace(spec.find("parallelism: 2"), 14, "parallelism: 1");
  ASSERT_OK_AND_ASSIGN(auto handle, Start("run-lost", spec));
  // Pause once a partition finished: the workflow stops before the combine
  // at the latest.
  ASSERT_TRUE(flightdeck::testing::WaitFor(
      [&] { return Progress(handle).value("partitions_done", int64_t{0}) >= 1; }, 60s));
  ASSERT_OK(client_->Signal(handle, kPauseSignal));
  // Paused: the chain in flight finishes, no other starts.
  int64_t done = 0;
  ASSERT_TRUE(flightdeck::testing::WaitFor(
      [&] {
        auto progress = Progress(handle);
        done = progress.value("partitions_done", int64_t{0});
        return progress.value("phase", "") == "paused" && Idle(handle) &&
               CountScheduled(handle, kPartitionActivity) == done;
      },
      60s));
  EXPECT_LT(done, 8);
  EXPECT_EQ(CountScheduled(handle, kCombineActivity), 0);

  // The node loses partition 0's output (DoAction drop, as an eviction or a
  // restart would).
  ASSERT_NO_FATAL_FAILURE(Drop({"acme", "run-lost-transform", "0"}));

  ASSERT_OK(client_->Signal(handle, kResumeSignal));
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, client_->GetResult<nlohmann::json>(handle));
  EXPECT_EQ(result.at("recomputes").get<int64_t>(), 1);
  // Counted once, from the workflow, though every task replayed it.
  EXPECT_EQ(counters_->Get("flightdeck_pipeline_recomputes|namespace=default|task_queue=pipelines|"
                           "workflow_type=flightdeck.Pipeline|input=partition"),
            1);
  // The combine failed once on the lost input; partition 0 ran again.
  EXPECT_EQ(CountScheduled(handle, kCombineActivity), 2);
  EXPECT_EQ(CountScheduled(handle, kPartitionActivity), 9);
  auto frame = *frame::DataFrame::Read((dir_ / "out").string(), frame::FileFormat::kParquet);
  auto actual = *frame.Sort({frame::Asc("category")}).Collect();
  auto sorted =
      *frame::DataFrame::FromTable(Expected(spec)).Sort({frame::Asc("category")}).Collect();
  EXPECT_TRUE(ApproxSameTable(*actual, *sorted))
      << actual->ToString() << "\n" << sorted->ToString();
  // Paused, resumed, a failed combine and a recompute replay as they ran.
  EXPECT_EQ(ExpectReplays(handle), 1);
}

TEST_F(PipelineWorkflowTest, ContinuesAsNewPastTheConfiguredPartitionsAndKeepsTheResult) {
  std::string spec = SpecText(25'000, 5);
  spec += "continue_as_new_after: 2\n";
  ASSERT_OK_AND_ASSIGN(auto handle, Start("run-can", spec));
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, client_->GetResult<nlohmann::json>(handle));
  // 2 + 2 + 1 partitions: three runs, one result with every part.
  EXPECT_EQ(result.at("runs").get<int64_t>(), 3);
  EXPECT_EQ(result.at("parts").size(), 5u);
  auto expected = *frame::DataFrame::FromTable(Expected(spec)).Sort({frame::Asc("id")}).Collect();
  EXPECT_EQ(result.at("rows").get<int64_t>(), expected->num_rows());
  EXPECT_TRUE(Output()->Equals(*expected, /*check_metadata=*/false));
  // The first run ended by continuing as new, and prepared the spec once for
  // the whole chain.
  ASSERT_OK_AND_ASSIGN(auto first, client_->GetHistory(handle));
  ASSERT_GT(first.events_size(), 0);
  EXPECT_TRUE(first.events(first.events_size() - 1)
                  .has_workflow_execution_continued_as_new_event_attributes());
  EXPECT_EQ(CountScheduled(handle, kPrepareActivity), 1);
  EXPECT_EQ(CountScheduled(handle, kPartitionActivity), 2);
  auto progress = Progress(temporal::WorkflowHandle{.workflow_id = "run-can"});
  EXPECT_EQ(progress.at("runs").get<int64_t>(), 3);
  EXPECT_EQ(progress.at("partitions_done").get<int64_t>(), 5);
  EXPECT_EQ(ExpectReplays(handle), 3);
}

TEST_F(PipelineWorkflowTest, SpecLostByTheNodeIsPreparedAgain) {
  std::string spec = SpecText(20'000, 3);
  spec.replace(spec.find("durable: true"), 13, "durable: false");
  temporal::WorkflowHandle handle;
  ASSERT_NO_FATAL_FAILURE(StartPaused("run-respec", spec, &handle));
  // The node loses the stored spec (as a restart without it would), and the
  // worker holds no parsed copy (as a new worker process).
  ASSERT_OK_AND_ASSIGN(auto parsed, ParsePipelineSpec(spec, "test.yaml"));
  ASSERT_OK_AND_ASSIGN(std::string key, SpecKeyOf(parsed, spec, "run-respec"));
  const std::string hash = key.substr(key.rfind('/') + 1, key.find('@') - key.rfind('/') - 1);
  ASSERT_NO_FATAL_FAILURE(Drop({"acme", "run-respec-spec-" + hash, "0"}));
  ForgetCachedSpecs();

  ASSERT_OK(client_->Signal(handle, kResumeSignal));
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, client_->GetResult<nlohmann::json>(handle));
  EXPECT_EQ(result.at("rows").get<int64_t>(), Expected(spec)->num_rows());
  EXPECT_GE(result.at("recomputes").get<int64_t>(), 1);
  EXPECT_GE(CountScheduled(handle, kPrepareActivity), 2);
  EXPECT_EQ(CountScheduled(handle, kCommitActivity), 1);
  EXPECT_EQ(ExpectReplays(handle), 1);
}

}  // namespace
}  // namespace flightdeck::pipeline
