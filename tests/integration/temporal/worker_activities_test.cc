// Worker and activity behaviour against a real dev server: failures with
// types, retries with heartbeat details, timeouts, cancellation, metrics,
// option errors.
#include <mutex>

#include <gtest/gtest.h>

#include "sdk_test_env.h"
#include "test_workflows.h"

namespace flightdeck::temporal::testing {
namespace {

class WorkerActivitiesTest : public SdkTest {};

TEST_F(WorkerActivitiesTest, FailuresRetriesAndTimeouts) {
  NewWorker("act-tq", RegisterAll);
  ASSERT_OK(StartWorkflow(*conn_, "Failures", "fail-1", "act-tq", {}).status());
  ASSERT_OK_AND_ASSIGN(auto result, WaitResult<std::string>(*conn_, "fail-1"));
  // Flaky succeeded on attempt 3 having seen the heartbeat of attempt 2.
  EXPECT_EQ(result, "bad=BadThing(non-retryable);flaky=302;slow=timeout");
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "fail-1"));
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_FAILED), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT), 1);
  for (const auto& e : events) {
    if (e.event_type() == enums::EVENT_TYPE_ACTIVITY_TASK_FAILED) {
      const auto& attrs = e.activity_task_failed_event_attributes();
      EXPECT_EQ(attrs.failure().application_failure_info().type(), "BadThing");
      EXPECT_TRUE(attrs.failure().application_failure_info().non_retryable());
      EXPECT_EQ(attrs.retry_state(), enums::RETRY_STATE_NON_RETRYABLE_FAILURE);
    }
    if (e.event_type() == enums::EVENT_TYPE_ACTIVITY_TASK_STARTED) {
      const auto& attrs = e.activity_task_started_event_attributes();
      if (attrs.attempt() == 3) {
        EXPECT_EQ(attrs.last_failure().application_failure_info().type(), "Transient");
      }
    }
  }
}

TEST_F(WorkerActivitiesTest, CancellationReachesHeartbeatingActivity) {
  NewWorker("act-tq", RegisterAll);
  ASSERT_OK(StartWorkflow(*conn_, "CancelActivity", "cact-1", "act-tq", {}).status());
  ASSERT_OK_AND_ASSIGN(auto result, WaitResult<std::string>(*conn_, "cact-1"));
  EXPECT_EQ(result, "cancelled");
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "cact-1"));
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED), 1);
}

TEST_F(WorkerActivitiesTest, ThrottledHeartbeatsAreFlushed) {
  NewWorker("hb-tq", RegisterAll);
  ASSERT_OK(StartWorkflow(*conn_, "SparseHeartbeats", "hb-1", "hb-tq", {}).status());
  ASSERT_OK_AND_ASSIGN(auto result, WaitResult<std::string>(*conn_, "hb-1"));
  EXPECT_EQ(result, "3");
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "hb-1"));
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT), 0);
}

TEST_F(WorkerActivitiesTest, MetricsHookAndIdentity) {
  std::mutex mutex;
  std::map<std::string, int> counts;
  WorkerOptions options;
  options.identity = "metrics-worker@test";
  options.metrics = [&](const WorkerMetric& metric) {
    std::lock_guard<std::mutex> lock(mutex);
    counts[metric.name]++;
  };
  Worker* worker = NewWorker("m-tq", RegisterAll, options);
  ASSERT_OK_AND_ASSIGN(auto payloads, ToPayloads(std::string("M")));
  ASSERT_OK(StartWorkflow(*conn_, "Greet", "metrics-1", "m-tq", payloads).status());
  ASSERT_OK(WaitResult<std::string>(*conn_, "metrics-1").status());
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "metrics-1"));
  for (const auto& e : events) {
    if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_STARTED) {
      EXPECT_EQ(e.workflow_task_started_event_attributes().identity(), "metrics-worker@test");
    }
  }
  // Shut down here: the hook refers to locals and Shutdown() still reports.
  ASSERT_OK(worker->Shutdown());
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_EQ(counts["shutdown_worker"], 1);
  EXPECT_GE(counts["workflow_task_completed"], 2);
  EXPECT_EQ(counts["activity_completed"], 1);
  EXPECT_GE(counts["activity_latency_ms"], 1);
}

TEST_F(WorkerActivitiesTest, GracefulShutdownFinishesRunningActivity) {
  std::atomic<bool> finished{false};
  std::atomic<bool> running{false};
  Worker* worker = NewWorker("g-tq", [&](Worker& w) {
    RegisterTestWorkflows(w);
    (void)w.RegisterActivity("Compose", [&](ActivityContext&, std::string name) -> arrow::Result<std::string> {
      running = true;
      std::this_thread::sleep_for(1s);
      finished = true;
      return "Hello, " + name;
    });
  });
  ASSERT_OK_AND_ASSIGN(auto payloads, ToPayloads(std::string("G")));
  ASSERT_OK(StartWorkflow(*conn_, "Greet", "graceful-1", "g-tq", payloads).status());
  ASSERT_TRUE(WaitFor([&] { return running.load(); }, std::chrono::seconds(30)));
  ASSERT_OK(worker->Shutdown());
  EXPECT_TRUE(finished.load());
  ASSERT_OK(worker->Shutdown());  // idempotent
  // The activity's result was reported before shutdown returned.
  ASSERT_TRUE(WaitFor([&] {
    auto events = GetHistory(*conn_, "graceful-1");
    return events.ok() && CountEvents(*events, enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 1;
  }, std::chrono::seconds(30)));
}

TEST_F(WorkerActivitiesTest, BadOptionsAndRegistrations) {
  ASSERT_RAISES(Invalid, Worker::Make(conn_, {}));
  WorkerOptions bad;
  bad.task_queue = "x";
  bad.max_concurrent_activities = 0;
  ASSERT_RAISES(Invalid, Worker::Make(conn_, bad));
  auto negative_eager =
      Worker::Make(conn_, {.task_queue = "x", .max_eager_activities_per_workflow_task = -1});
  ASSERT_RAISES(Invalid, negative_eager.status());
  EXPECT_NE(negative_eager.status().message().find("max_eager_activities_per_workflow_task"),
            std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto worker, Worker::Make(conn_, {.task_queue = "x"}));
  ASSERT_RAISES(Invalid, worker->Start());  // nothing registered
  ASSERT_OK(worker->RegisterWorkflow("Greet", &Greet));
  ASSERT_RAISES(AlreadyExists, worker->RegisterWorkflow("Greet", &Greet));
  ASSERT_OK(worker->RegisterActivity("A", [](ActivityContext&) { return arrow::Status::OK(); }));
  ASSERT_RAISES(AlreadyExists,
                worker->RegisterActivity("A", [](ActivityContext&) { return arrow::Status::OK(); }));
  ASSERT_OK(worker->Start());
  ASSERT_RAISES(Invalid, worker->Start());
  ASSERT_RAISES(Invalid,
                worker->RegisterActivity("B", [](ActivityContext&) { return arrow::Status::OK(); }));
  ASSERT_OK(worker->Shutdown());
}

}  // namespace
}  // namespace flightdeck::temporal::testing
