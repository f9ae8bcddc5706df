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
  /// Runs the spec fault-free into dir_/reference (the output every faulty
  /// run must equal), then starts run `id` into dir_/out and waits until it
  /// has some but not all partitions done.
  void StartFaultyRun(const std::string& id) {
    StartRun("reference", SpecText("reference", options_));
    auto reference = WaitResult("reference");
    ASSERT_TRUE(reference.ok()) << reference.status().ToString();
    reference_ = *reference;
    spec_ = SpecText("out", options_);
    StartRun(id, spec_);
    done_at_fault_ = WaitForPartialProgress(id, options_.partitions);
  }

  /// Marks the moment of the fault (after it took effect), when the run had
  /// `completed` activities.
  void FaultHappened(int completed) {
    fault_ = std::chrono::steady_clock::now();
    completed_at_fault_ = completed;
  }

  /// Waits for run `id` to resume and end, logs the time from the fault to
  /// resumed progress, and checks the output: the reference run's (rows,
  /// checksums, part files' content), every row once, committed once.
  void ExpectRecovered(const std::string& id, const std::string& fault) {
    const double resumed = SecondsToResumedProgress(id, completed_at_fault_, fault_);
    auto result = WaitResult(id);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    std::ostringstream line;
    line << "[fault] " << fault << " at " << done_at_fault_ << "/" << options_.partitions
         << " partitions done (" << Retries(id) << " activity retries): progress resumed "
         << resumed << " s after the fault";
    std::cout << line.str() << std::endl;
    RecordProperty("fault_to_progress_s", std::to_string(resumed));
    // One commit and one chain per partition scheduled: retries stayed
    // inside their activities, nothing ran twice as a new step.
    const auto scheduled = ScheduledByType(id);
    EXPECT_EQ(scheduled.at("flightdeck.commit"), 1);
    EXPECT_EQ(scheduled.at("flightdeck.partition"), options_.partitions);
    ExpectSameOutput(*result, reference_, dir_ / "out", dir_ / "reference", "parquet");
    ExpectCommittedExactlyOnce(id, spec_, dir_ / "out", "parquet", options_.partitions);
  }

  /// Seconds from the first chain (extract, transform, load) scheduled to
  /// the commit scheduled.
  double ChainPhaseSeconds(const std::string& id) {
    int64_t first_load = -1, commit = -1;
    for (const auto& event : Events(id, enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)) {
      const std::string& type = event.activity_task_scheduled_event_attributes().activity_type().name();
      const int64_t ms = event.event_time().seconds() * 1000 + event.event_time().nanos() / 1'000'000;
      if (type == "flightdeck.partition" && first_load < 0) first_load = ms;
      if (type == "flightdeck.commit") commit = ms;
    }
    return static_cast<double>(commit - first_load) / 1000.0;
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

  SpecOptions options_;
  std::string spec_;
  nlohmann::json reference_;
  int64_t done_at_fault_ = 0;
  int completed_at_fault_ = 0;
  std::chrono::steady_clock::time_point fault_;
};

TEST_F(PipelineFaultTest, KilledWorkerMidPipelineIsReplacedAndOutputIsIdentical) {
  ASSERT_OK(StartWorker("first"));
  const std::string id = "worker-kill";
  StartFaultyRun(id);
  ASSERT_FALSE(HasFailure());
  const std::string first = IdentityPrefix("first");
  ASSERT_OK(KillWorker("first"));
  FaultHappened(CompletedActivities(id));
  ASSERT_OK(StartWorker("second"));
  ExpectRecovered(id, "worker SIGKILLed");
  // The first worker did part of the run, the second the rest.
  EXPECT_GE(StartedBy(id, first), 1);
  EXPECT_GE(StartedBy(id, IdentityPrefix("second")), 1);
}

TEST_F(PipelineFaultTest, DevServerKilledAndRestartedOnItsSqliteFileMidRun) {
  ASSERT_OK(StartWorker("only"));
  const std::string id = "server-kill";
  StartFaultyRun(id);
  ASSERT_FALSE(HasFailure());
  const int completed = CompletedActivities(id);  // out of reach after the kill
  const int port = server_->port();
  ASSERT_OK(server_->Kill());
  ASSERT_FALSE(server_->Running());
  FaultHappened(completed);
  server_.reset();
  // The same SQLite file and port: the worker and the test's client reconnect.
  ASSERT_OK(StartServer(port));
  std::cout << "[fault] dev server serving again " << SecondsSince(fault_)
            << " s after the kill" << std::endl;
  ExpectRecovered(id, "dev server SIGKILLed and restarted");
  EXPECT_TRUE(workers_.at("only")->Running()) << "the worker should outlive the server";
}

TEST_F(PipelineFaultTest, DataNodeWithDurableCheckpointsKilledAndRestartedMidRun) {
  ASSERT_TRUE(options_.durable);
  ASSERT_OK(StartWorker("only"));
  const std::string id = "node-kill";
  StartFaultyRun(id);
  ASSERT_FALSE(HasFailure());
  const std::string location = location_;
  ASSERT_OK(node_->Signal(SIGKILL));
  ASSERT_OK_AND_ASSIGN(int status, node_->Wait(30s));
  ASSERT_TRUE(WIFSIGNALED(status)) << DescribeWaitStatus(status);
  FaultHappened(CompletedActivities(id));
  // The same directory and port: it recovers its durable datasets, and the
  // refs already in the history stay valid. The loads read the outputs of
  // the partitions done before the kill by those refs: the run ends well
  // only because the restarted node recovered them from its manifest.
  ASSERT_OK(StartNode(NodePort()));
  ASSERT_EQ(location_, location);
  ExpectRecovered(id, "data node SIGKILLed and restarted");
}

TEST_F(PipelineFaultTest, WorkerKilledWhileLoadingLeavesTheSinkEmptyOrCompleteNeverPartial) {
  // Twelve partitions, each staging its part when its chain loads: long
  // enough to kill the worker with some parts staged and others not.
  options_.partitions = 12;
  ASSERT_OK(StartWorker("first"));
  const std::string id = "load-kill";
  StartFaultyRun(id);
  ASSERT_FALSE(HasFailure());
  // Kill once a few parts are staged and the rest are not.
  const fs::path staging = dir_ / "out" / "_staging" / id;
  auto staged = [&] {
    size_t n = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(staging, ec)) {
      n += entry.path().filename().string().rfind("part-", 0) == 0;
    }
    return n;
  };
  std::string phase;
  ASSERT_TRUE(flightdeck::testing::WaitFor(
      [&] {
        if (staged() < 3) return false;
        auto progress = Progress(id);
        if (progress.ok()) phase = progress->value("phase", std::string());
        return progress.ok();
      },
      180s));
  // Without global stages each partition's chain loads as soon as it is
  // transformed, so loads run in the "partitions" phase too.
  ASSERT_NE(phase, "done") << "the run finished before the kill";
  done_at_fault_ = options_.partitions;
  ASSERT_OK(KillWorker("first"));
  FaultHappened(CompletedActivities(id));

  // No worker runs: what a reader sees now is what the crash left. Either
  // nothing is published (no _SUCCESS, no part file), or all of it is.
  const SinkListing crashed = ListSink(dir_ / "out");
  if (crashed.success.empty()) {
    EXPECT_TRUE(crashed.parts.empty()) << "a part published without _SUCCESS: "
                                       << crashed.parts.front();
  } else {
    EXPECT_EQ(crashed.success, id + "\n");
    EXPECT_EQ(crashed.parts.size(), static_cast<size_t>(options_.partitions));
  }
  std::cout << "[fault] at the kill: " << staged() << "/" << options_.partitions
            << " parts staged, " << crashed.parts.size() << " published" << std::endl;

  ASSERT_OK(StartWorker("second"));
  ExpectRecovered(id, "worker SIGKILLed while loading");
  std::cout << "[fault] the reference run's chains (extract to load) took " << ChainPhaseSeconds("reference")
            << " s" << std::endl;
}

}  // namespace
}  // namespace flightdeck::pipeline::testing
