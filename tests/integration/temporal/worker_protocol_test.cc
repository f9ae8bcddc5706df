// Worker protocol paths against a real dev server: eager activity execution
// (activity tasks returned in the RespondWorkflowTaskCompleted response),
// the ShutdownWorker call on graceful shutdown, and queries attached to a
// real workflow task (answered through query_results of its completion).
#include <future>
#include <map>
#include <mutex>

#include <gtest/gtest.h>

#include "sdk_test_env.h"
#include "test_workflows.h"

namespace flightdeck::temporal::testing {
namespace {

/// Metrics outlive the workers: TearDown() shuts them down and they still
/// report (shutdown_worker).
class MetricsTest : public SdkTest {
 protected:
  MetricTotals metrics;
  MetricTotals caller_metrics;
  MetricTotals other_metrics;
};

/// A dev server with system.enableActivityEagerExecution set to `kEager`.
template <bool kEager>
class EagerFlagTest : public MetricsTest {
 protected:
  EmbeddedTemporalOptions ServerOptions() const override {
    EmbeddedTemporalOptions options;
    options.extra_args = {"--dynamic-config-value",
                          std::string("system.enableActivityEagerExecution=") + (kEager ? "true" : "false")};
    return options;
  }
};
using EagerServerTest = EagerFlagTest<true>;
using NoEagerServerTest = EagerFlagTest<false>;

class WorkerProtocolTest : public MetricsTest {};

/// Runs "Compose" on another task queue.
Task<std::string> ComposeElsewhere(WorkflowContext& ctx, std::string name, std::string queue) {
  ActivityOptions options = QuickActivity();
  options.task_queue = queue;
  co_return co_await ctx.ExecuteActivity<std::string>("Compose", options, name);
}

arrow::Result<int> RunOneActivity(Connection& conn, const std::string& id, const std::string& queue, int x) {
  ARROW_ASSIGN_OR_RAISE(auto input, ToPayloads(x));
  ARROW_RETURN_NOT_OK(StartWorkflow(conn, "OneActivity", id, queue, input).status());
  return WaitResult<int>(conn, id);
}

/// Runs ManyActivities(6) (six activities scheduled in one workflow task)
/// and checks its sum.
void RunSixActivities(Connection& conn, const std::string& id, const std::string& queue) {
  ASSERT_OK_AND_ASSIGN(auto input, ToPayloads(6));
  ASSERT_OK(StartWorkflow(conn, "ManyActivities", id, queue, input).status());
  ASSERT_OK_AND_ASSIGN(int sum, WaitResult<int>(conn, id));
  EXPECT_EQ(sum, 0 + 1 + 4 + 9 + 16 + 25);
}

TEST_F(EagerServerTest, ActivityRunsFromTheCompletionResponseUnlessDisabled) {
  WorkerOptions options;
  options.metrics = metrics.Hook();
  Worker* worker = NewWorker("eager-tq", RegisterAll, options);
  ASSERT_NE(worker, nullptr);
  ASSERT_OK_AND_ASSIGN(int result, RunOneActivity(*conn_, "eager-1", "eager-tq", 7));
  EXPECT_EQ(result, 49);
  // The one activity came back in the RespondWorkflowTaskCompleted response
  // and ran here; nothing was polled for it.
  EXPECT_EQ(metrics.Total("activity_eager_requested"), 1);
  EXPECT_EQ(metrics.Total("activity_eager_received"), 1);
  EXPECT_EQ(metrics.Count("activity_completed"), 1);
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "eager-1"));
  ASSERT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_STARTED), 1);
  for (const auto& e : events) {
    if (e.event_type() == enums::EVENT_TYPE_ACTIVITY_TASK_STARTED) {
      EXPECT_EQ(e.activity_task_started_event_attributes().identity(), worker->identity());
    }
  }

  // With the option off the activity goes through the task queue.
  WorkerOptions lazy;
  lazy.eager_activities = false;
  lazy.metrics = caller_metrics.Hook();
  ASSERT_NE(NewWorker("lazy-tq", RegisterAll, lazy), nullptr);
  ASSERT_OK_AND_ASSIGN(int lazy_result, RunOneActivity(*conn_, "lazy-1", "lazy-tq", 5));
  EXPECT_EQ(lazy_result, 25);
  EXPECT_EQ(caller_metrics.Count("activity_eager_requested"), 0);
  EXPECT_EQ(caller_metrics.Count("activity_completed"), 1);
}

TEST_F(EagerServerTest, AsManyAsFreeSlotsPerTaskByDefault) {
  WorkerOptions options;
  options.max_concurrent_activities = 12;  // 5 polls, 7 slots free for eager requests
  options.metrics = metrics.Hook();
  ASSERT_NE(NewWorker("all-tq", RegisterAll, options), nullptr);
  RunSixActivities(*conn_, "all-1", "all-tq");
  if (HasFatalFailure()) return;
  // All 6 scheduled in one task came back in its completion response: none
  // went through matching.
  EXPECT_EQ(metrics.Max("activity_eager_requested"), 6);
  EXPECT_EQ(metrics.Total("activity_eager_received"), 6);
  EXPECT_EQ(metrics.Count("activity_completed"), 6);
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "all-1"));
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_STARTED), 6);
}

TEST_F(EagerServerTest, CapPerTaskAndOnlyForOwnQueue) {
  WorkerOptions options;
  options.max_concurrent_activities = 8;  // 4 polls, 4 slots free for eager requests
  options.max_eager_activities_per_workflow_task = 3;  // the official SDKs' bound
  options.metrics = metrics.Hook();
  ASSERT_NE(NewWorker("fan-tq", RegisterAll, options), nullptr);
  RunSixActivities(*conn_, "fan-1", "fan-tq");
  if (HasFatalFailure()) return;
  EXPECT_EQ(metrics.Max("activity_eager_requested"), 3);  // 6 scheduled in one task
  EXPECT_EQ(metrics.Total("activity_eager_received"), metrics.Total("activity_eager_requested"));
  EXPECT_EQ(metrics.Count("activity_completed"), 6);

  // An activity on another task queue is never requested eagerly.
  WorkerOptions caller;
  caller.metrics = other_metrics.Hook();
  ASSERT_NE(NewWorker("caller-tq",
                      [](Worker& w) {
                        (void)w.RegisterWorkflow("ComposeElsewhere", &ComposeElsewhere);
                        RegisterTestActivities(w);  // "Compose" here too: still not eager
                      },
                      caller),
            nullptr);
  ASSERT_NE(NewWorker("other-tq", RegisterAll), nullptr);
  ASSERT_OK_AND_ASSIGN(auto args, ToPayloads(std::string("abc"), std::string("other-tq")));
  ASSERT_OK(StartWorkflow(*conn_, "ComposeElsewhere", "other-1", "caller-tq", args).status());
  ASSERT_OK_AND_ASSIGN(std::string composed, WaitResult<std::string>(*conn_, "other-1"));
  EXPECT_EQ(composed, "Hello, abc");
  EXPECT_EQ(other_metrics.Total("activity_eager_requested"), 0);
}

TEST_F(NoEagerServerTest, ServerWithoutEagerGetsSlotsBack) {
  WorkerOptions options;
  options.max_concurrent_activities = 3;  // 1 poll, 2 slots for eager requests
  options.metrics = metrics.Hook();
  ASSERT_NE(NewWorker("plain-tq", RegisterAll, options), nullptr);
  // Every request is answered without a task; were the reserved slots kept,
  // the third workflow would find none free and not request again (one
  // spare slot covers a handler that has not yet given back its slot).
  for (int i = 1; i <= 3; ++i) {
    ASSERT_OK_AND_ASSIGN(int result, RunOneActivity(*conn_, "plain-" + std::to_string(i), "plain-tq", i));
    EXPECT_EQ(result, i * i);
  }
  EXPECT_EQ(metrics.Total("activity_eager_requested"), 3);
  EXPECT_EQ(metrics.Total("activity_eager_received"), 0);
  EXPECT_EQ(metrics.Count("activity_completed"), 3);
}

TEST_F(WorkerProtocolTest, ShutdownTellsTheServer) {
  WorkerOptions options;
  options.task_queue = "bye-tq";
  options.metrics = metrics.Hook();
  ASSERT_OK_AND_ASSIGN(auto worker, Worker::Make(conn_, options));
  RegisterAll(*worker);
  ASSERT_OK(worker->Start());
  ASSERT_OK_AND_ASSIGN(int result, RunOneActivity(*conn_, "bye-1", "bye-tq", 3));
  EXPECT_EQ(result, 9);
  ASSERT_OK(worker->Shutdown());
  // The server answered ShutdownWorker (value 1; 0 = error or UNIMPLEMENTED).
  EXPECT_EQ(metrics.Count("shutdown_worker"), 1);
  EXPECT_EQ(metrics.Total("shutdown_worker"), 1);
  ASSERT_OK(worker->Shutdown());
  EXPECT_EQ(metrics.Count("shutdown_worker"), 1);  // once
}

TEST_F(WorkerProtocolTest, QueryAttachedToWorkflowTaskIsAnsweredInCompletion) {
  WorkerOptions options;
  options.metrics = metrics.Hook();
  ASSERT_NE(NewWorker("q-tq", RegisterAll, options), nullptr);
  ASSERT_OK(StartWorkflow(*conn_, "SignalCounter", "q-1", "q-tq", {}).status());
  // A query that reaches the server while a workflow task is scheduled or
  // running is buffered and delivered in that task's `queries` map; one that
  // arrives when none is pending goes out as a legacy query task. Each round
  // schedules a task with a signal and queries right after it, until one
  // query took the map path; every answer must see every signal so far.
  int total = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (metrics.Count("workflow_task_query_answered") == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no query arrived with a workflow task";
    ASSERT_OK_AND_ASSIGN(auto one, ToPayloads(1));
    ASSERT_OK(Signal(*conn_, "q-1", "add", one));
    ++total;
    auto answer = Query(*conn_, "q-1", "total");
    ASSERT_OK(answer.status());
    // The signal came first, so the answer includes it.
    EXPECT_EQ(FromPayloads<int>(*answer).ValueOr(-1), total);
  }
  ASSERT_OK_AND_ASSIGN(auto done, ToPayloads(std::string("now")));
  ASSERT_OK(Signal(*conn_, "q-1", "done", done));
  ASSERT_OK_AND_ASSIGN(int result, WaitResult<int>(*conn_, "q-1"));
  EXPECT_EQ(result, total);
  // Answering queries never added commands or failed a task.
  EXPECT_EQ(metrics.Count("workflow_task_failed"), 0);
}

}  // namespace
}  // namespace flightdeck::temporal::testing
