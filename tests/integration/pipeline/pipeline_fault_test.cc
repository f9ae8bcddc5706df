// Fault tests of pipelines, on real processes (dev server, `flightdeck node`,
// `flightdeck worker`, `flightdeck run`): a worker SIGKILLed mid-run, the
// dev server killed and restarted on its SQLite file, a data node holding
// durable checkpoints killed and restarted, and a worker killed while it
// loads the sink. Each run ends with the output of a fault-free run of the
// same spec (rows, checksums, the sink files' content), every row once, the
// sink committed exactly once. The time from each fault to resumed progress
// is printed (and recorded as a test property), never asserted.
#include <csignal>

#include "integration/pipeline/pipeline_processes.h"

namespace flightdeck::pipeline::testing {
namespace {

namespace enums = ::temporal::api::enums::v1;

class PipelineFaultTest : public PipelineProcessTest {
 protected:
  /// Runs the spec fault-free into dir_/reference and returns its result.
  nlohmann::json ReferenceRun(const SpecOptions& options) {
    const std::string id = "reference";
    StartRun(id, SpecText("reference", options));
    auto result = WaitResult(id);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? *result : nlohmann::json::object();
  }

  void Report(const std::string& what, double seconds) {
    std::cout << "[fault] " << what << ": progress resumed " << seconds << " s after the fault"
              << std::endl;
    RecordProperty("fault_to_progress_s", std::to_string(seconds));
  }

  /// Activity attempts after the first, i.e. retries the faults caused.
  int Retries(const std::string& id) {
    int retries = 0;
    for (const auto& event : Events(id, enums::EVENT_TYPE_ACTIVITY_TASK_STARTED)) {
      retries += event.activity_task_started_event_attributes().attempt() - 1;
    }
    return retries;
  }

  /// How many activity attempts workers named by `prefix` started.
  int StartedBy(const std::string& id, const std::string& prefix) {
    int n = 0;
    for (const auto& event : Events(id, enums::EVENT_TYPE_ACTIVITY_TASK_STARTED)) {
      n += event.activity_task_started_event_attributes().identity().rfind(prefix, 0) == 0;
    }
    return n;
  }
};

TEST_F(PipelineFaultTest, KilledWorkerMidPipelineIsReplacedAndOutputIsIdentical) {
  const SpecOptions options;
  ASSERT_OK(StartWorker("first"));
  const nlohmann::json reference = ReferenceRun(options);
  ASSERT_FALSE(HasFailure());

  const std::string id = "worker-kill";
  const std::string spec = SpecText("out", options);
  StartRun(id, spec);
  const int64_t done_at_kill = WaitForPartialProgress(id, options.partitions);
  ASSERT_FALSE(HasFailure());
  const std::string first = IdentityPrefix("first");
  ASSERT_OK(KillWorker("first"));
  const auto killed = std::chrono::steady_clock::now();
  const int completed_at_kill = CompletedActivities(id);

  ASSERT_OK(StartWorker("second"));
  const double resumed = SecondsToResumedProgress(id, completed_at_kill, killed);
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, WaitResult(id));
  Report("worker SIGKILLed at " + std::to_string(done_at_kill) + "/" +
             std::to_string(options.partitions) + " partitions (" +
             std::to_string(Retries(id)) + " activity retries)",
         resumed);

  EXPECT_GE(StartedBy(id, first), 1);
  EXPECT_GE(StartedBy(id, IdentityPrefix("second")), 1);
  // One commit, one load per partition: nothing scheduled twice.
  const auto scheduled = ScheduledByType(id);
  EXPECT_EQ(scheduled.at("flightdeck.commit"), 1);
  EXPECT_EQ(scheduled.at("flightdeck.load"), options.partitions);
  ExpectSameOutput(result, reference, dir_ / "out", dir_ / "reference", "parquet");
  ExpectCommittedExactlyOnce(id, spec, dir_ / "out", "parquet", options.partitions);
}

TEST_F(PipelineFaultTest, DevServerKilledAndRestartedOnItsSqliteFileMidRun) {
  const SpecOptions options;
  ASSERT_OK(StartWorker("only"));
  const nlohmann::json reference = ReferenceRun(options);
  ASSERT_FALSE(HasFailure());

  const std::string id = "server-kill";
  const std::string spec = SpecText("out", options);
  StartRun(id, spec);
  const int64_t done_at_kill = WaitForPartialProgress(id, options.partitions);
  ASSERT_FALSE(HasFailure());
  const int completed_at_kill = CompletedActivities(id);
  const int port = server_->port();
  ASSERT_OK(server_->Kill());
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_FALSE(server_->Running());
  server_.reset();
  // The same SQLite file and port: the worker and the test's client reconnect.
  ASSERT_OK(StartServer(port));
  const double restarted = SecondsSince(killed);

  const double resumed = SecondsToResumedProgress(id, completed_at_kill, killed);
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, WaitResult(id));
  Report("dev server SIGKILLed at " + std::to_string(done_at_kill) + "/" +
             std::to_string(options.partitions) + " partitions, serving again after " +
             std::to_string(restarted) + " s (" + std::to_string(Retries(id)) +
             " activity retries)",
         resumed);

  EXPECT_TRUE(workers_.at("only")->Running()) << "the worker should outlive the server";
  EXPECT_EQ(ScheduledByType(id).at("flightdeck.commit"), 1);
  ExpectSameOutput(result, reference, dir_ / "out", dir_ / "reference", "parquet");
  ExpectCommittedExactlyOnce(id, spec, dir_ / "out", "parquet", options.partitions);
}

TEST_F(PipelineFaultTest, DataNodeWithDurableCheckpointsKilledAndRestartedMidRun) {
  SpecOptions options;
  options.durable = true;
  ASSERT_OK(StartWorker("only"));
  const nlohmann::json reference = ReferenceRun(options);
  ASSERT_FALSE(HasFailure());

  const std::string id = "node-kill";
  const std::string spec = SpecText("out", options);
  StartRun(id, spec);
  const int64_t done_at_kill = WaitForPartialProgress(id, options.partitions);
  ASSERT_FALSE(HasFailure());
  const std::string location = location_;
  ASSERT_OK(node_->Signal(SIGKILL));
  ASSERT_OK_AND_ASSIGN(int status, node_->Wait(30s));
  ASSERT_TRUE(WIFSIGNALED(status)) << DescribeWaitStatus(status);
  const auto killed = std::chrono::steady_clock::now();
  const int completed_at_kill = CompletedActivities(id);
  // The same directory and port: it recovers its durable datasets, and the
  // refs already in the history stay valid.
  ASSERT_OK(StartNode(NodePort()));
  ASSERT_EQ(location_, location);

  const double resumed = SecondsToResumedProgress(id, completed_at_kill, killed);
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, WaitResult(id));
  Report("data node SIGKILLed at " + std::to_string(done_at_kill) + "/" +
             std::to_string(options.partitions) + " partitions (" +
             std::to_string(Retries(id)) + " activity retries)",
         resumed);

  // The loads read the transform outputs of the partitions done before the
  // kill by the tickets in the history: they exist only because the
  // restarted node recovered them from its manifest.
  EXPECT_EQ(ScheduledByType(id).at("flightdeck.commit"), 1);
  ExpectSameOutput(result, reference, dir_ / "out", dir_ / "reference", "parquet");
  ExpectCommittedExactlyOnce(id, spec, dir_ / "out", "parquet", options.partitions);
}

TEST_F(PipelineFaultTest, WorkerKilledWhileLoadingLeavesTheSinkEmptyOrCompleteNeverPartial) {
  SpecOptions options;
  ASSERT_OK(StartWorker("first"));
  const std::string id = "load-kill";
  const std::string spec = SpecText("out", options);
  StartRun(id, spec);
  std::string phase;
  ASSERT_TRUE(flightdeck::testing::WaitFor(
      [&] {
        auto progress = Progress(id);
        if (progress.ok()) phase = progress->value("phase", std::string());
        return phase == "load" || phase == "commit" || phase == "done";
      },
      180s));
  ASSERT_EQ(phase, "load") << "the run got past its load phase before the kill";
  ASSERT_OK(KillWorker("first"));
  const auto killed = std::chrono::steady_clock::now();
  const int completed_at_kill = CompletedActivities(id);

  // No worker runs: what a reader sees now is what the crash left. Either
  // nothing is published (no _SUCCESS, no part file), or all of it is.
  const SinkListing crashed = ListSink(dir_ / "out");
  if (crashed.success.empty()) {
    EXPECT_TRUE(crashed.parts.empty()) << "a part published without _SUCCESS: "
                                       << crashed.parts.front();
  } else {
    EXPECT_EQ(crashed.success, id + "\n");
    EXPECT_EQ(crashed.parts.size(), static_cast<size_t>(options.partitions));
  }
  const size_t staged_at_kill =
      fs::exists(dir_ / "out" / "_staging" / id)
          ? static_cast<size_t>(std::distance(fs::directory_iterator(dir_ / "out" / "_staging" / id),
                                              fs::directory_iterator()))
          : 0;

  ASSERT_OK(StartWorker("second"));
  const double resumed = SecondsToResumedProgress(id, completed_at_kill, killed);
  ASSERT_OK_AND_ASSIGN(nlohmann::json result, WaitResult(id));
  Report("worker SIGKILLed while loading (" + std::to_string(staged_at_kill) +
             " entries in staging, " + std::to_string(Retries(id)) + " activity retries)",
         resumed);
  EXPECT_EQ(result.at("parts").size(), static_cast<size_t>(options.partitions));
  EXPECT_EQ(ScheduledByType(id).at("flightdeck.commit"), 1);
  ExpectCommittedExactlyOnce(id, spec, dir_ / "out", "parquet", options.partitions);
}

}  // namespace
}  // namespace flightdeck::pipeline::testing
