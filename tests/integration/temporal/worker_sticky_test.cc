// Sticky execution against a real dev server: later workflow tasks are
// served from the worker's cache through its sticky queue; a tiny or
// disabled cache still completes workflows by full replay; a run pushed out
// of the cache has its stickiness reset; signals and
// queries reach cached runs; a changed workflow is still caught as
// nondeterministic when another worker replays the full history.
#include <gtest/gtest.h>

#include "sdk_test_env.h"
#include "test_workflows.h"

namespace flightdeck::temporal::testing {
namespace {

int CountStickyScheduled(const std::vector<HistoryEvent>& events) {
  int n = 0;
  for (const auto& e : events) {
    if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED &&
        e.workflow_task_scheduled_event_attributes().task_queue().kind() == enums::TASK_QUEUE_KIND_STICKY) {
      ++n;
    }
  }
  return n;
}

void RegisterAll(Worker& worker) {
  RegisterTestWorkflows(worker);
  RegisterTestActivities(worker);
}

/// Steps with a different activity: nondeterministic against Steps' histories.
Task<int> StepsChanged(WorkflowContext& ctx, int steps) {
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(std::string text,
                                co_await ctx.ExecuteActivity<std::string>("Compose", kQuick, std::string("x")));
  co_return static_cast<int>(text.size()) + steps;
}

class WorkerStickyTest : public SdkTest {
 protected:
  // A member, so it outlives the workers TearDown() shuts down.
  MetricTotals metrics;
};

TEST_F(WorkerStickyTest, LaterTasksAreServedFromTheCache) {
  ASSERT_NE(NewWorker("sticky-tq", RegisterAll, {.metrics = metrics.Hook()}), nullptr);
  ASSERT_OK_AND_ASSIGN(auto steps, ToPayloads(4));
  ASSERT_OK(StartWorkflow(*conn_, "Steps", "sticky-steps", "sticky-tq", steps).status());
  ASSERT_OK_AND_ASSIGN(int done, WaitResult<int>(*conn_, "sticky-steps"));
  EXPECT_EQ(done, 4);
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "sticky-steps"));
  // Every task after the first went through the sticky queue and the cache.
  const int tasks = CountEvents(events, enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  EXPECT_GE(tasks, 5);
  EXPECT_GE(CountStickyScheduled(events), 1);
  EXPECT_EQ(metrics.Total("workflow_cache_hit"), tasks - 1);
  EXPECT_EQ(metrics.Total("workflow_cache_miss"), 0);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_WORKFLOW_TASK_FAILED), 0);
}

TEST_F(WorkerStickyTest, SignalsAndQueriesReachTheCachedRun) {
  ASSERT_NE(NewWorker("sticky-sig", RegisterAll, {.metrics = metrics.Hook()}), nullptr);
  ASSERT_OK(StartWorkflow(*conn_, "SignalCounter", "sticky-counter", "sticky-sig", {}).status());
  // Once the first task is completed the run is cached and sticky, so the
  // signals and the query below go to the cached run (a query sent earlier
  // would be answered by a replay from the normal queue).
  ASSERT_TRUE(WaitFor([&] {
    auto events = GetHistory(*conn_, "sticky-counter");
    return events.ok() && CountEvents(*events, enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED) >= 1;
  }, std::chrono::seconds(30)));
  for (int value : {1, 2, 3}) {
    ASSERT_OK_AND_ASSIGN(auto input, ToPayloads(value));
    ASSERT_OK(Signal(*conn_, "sticky-counter", "add", input));
  }
  int total = 0;
  ASSERT_TRUE(WaitFor([&] {
    auto answer = Query(*conn_, "sticky-counter", "total");
    if (!answer.ok()) return false;
    auto value = FromPayloads<int>(*answer, 0);
    total = value.ok() ? *value : -1;
    return total == 6;
  }, std::chrono::seconds(30))) << "last total " << total;
  EXPECT_GE(metrics.Total("query_answered") + metrics.Total("workflow_task_query_answered"), 1);
  ASSERT_OK_AND_ASSIGN(auto done, ToPayloads(std::string("done")));
  ASSERT_OK(Signal(*conn_, "sticky-counter", "done", done));
  ASSERT_OK_AND_ASSIGN(int result, WaitResult<int>(*conn_, "sticky-counter"));
  EXPECT_EQ(result, 6);
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "sticky-counter"));
  EXPECT_GE(CountStickyScheduled(events), 1);
  // Signal tasks and the query were answered from the cached run.
  EXPECT_GE(metrics.Total("workflow_cache_hit"), 2);
  EXPECT_EQ(metrics.Total("workflow_cache_miss"), 0);
}

TEST_F(WorkerStickyTest, CacheOfOneStillCompletesConcurrentWorkflows) {
  ASSERT_NE(NewWorker("sticky-one", RegisterAll,
                      {.max_concurrent_workflow_tasks = 4, .max_cached_workflows = 1,
                       .metrics = metrics.Hook()}),
            nullptr);
  ASSERT_OK_AND_ASSIGN(auto steps, ToPayloads(3));
  const std::vector<std::string> ids = {"one-a", "one-b", "one-c", "one-d"};
  for (const auto& id : ids) ASSERT_OK(StartWorkflow(*conn_, "Steps", id, "sticky-one", steps).status());
  for (const auto& id : ids) {
    ASSERT_OK_AND_ASSIGN(int done, WaitResult<int>(*conn_, id));
    EXPECT_EQ(done, 3) << id;
  }
  // Runs pushed out of the one-entry cache were replayed from full history.
  EXPECT_GE(metrics.Total("workflow_cache_evicted"), 1);
  EXPECT_GE(metrics.Total("workflow_cache_miss"), 1);
  EXPECT_EQ(metrics.Total("workflow_task_failed"), 0);
}

/// The WorkflowTaskScheduled events of `events`, in order.
std::vector<HistoryEvent> ScheduledTasks(const std::vector<HistoryEvent>& events) {
  std::vector<HistoryEvent> out;
  for (const auto& e : events) {
    if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) out.push_back(e);
  }
  return out;
}

TEST_F(WorkerStickyTest, EvictedRunsNextTaskGoesToTheNormalQueue) {
  ASSERT_NE(NewWorker("sticky-reset", RegisterAll,
                      {.max_concurrent_workflow_tasks = 4, .max_cached_workflows = 1,
                       .metrics = metrics.Hook()}),
            nullptr);
  // A's first task leaves it cached and sticky; B's first task pushes A out
  // of the one-entry cache, and the worker resets A's stickiness.
  ASSERT_OK(StartWorkflow(*conn_, "SignalCounter", "reset-a", "sticky-reset", {}).status());
  ASSERT_TRUE(WaitFor([&] {
    auto events = GetHistory(*conn_, "reset-a");
    return events.ok() && CountEvents(*events, enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1;
  }, std::chrono::seconds(30)));
  ASSERT_OK(StartWorkflow(*conn_, "SignalCounter", "reset-b", "sticky-reset", {}).status());
  ASSERT_TRUE(WaitFor([&] { return metrics.Count("sticky_queue_reset") >= 1; }, std::chrono::seconds(30)));
  EXPECT_EQ(metrics.Total("sticky_queue_reset"), 1);  // acknowledged by the server
  EXPECT_EQ(metrics.Total("workflow_cache_evicted"), 1);

  // A's next task (for a signal) is scheduled on the normal queue, where
  // it comes with full history and is replayed.
  ASSERT_OK_AND_ASSIGN(auto five, ToPayloads(5));
  ASSERT_OK(Signal(*conn_, "reset-a", "add", five));
  ASSERT_TRUE(WaitFor([&] {
    auto events = GetHistory(*conn_, "reset-a");
    return events.ok() && CountEvents(*events, enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 2;
  }, std::chrono::seconds(30)));
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "reset-a"));
  const auto scheduled = ScheduledTasks(events);
  ASSERT_GE(scheduled.size(), 2u);
  EXPECT_EQ(scheduled[1].workflow_task_scheduled_event_attributes().task_queue().kind(),
            enums::TASK_QUEUE_KIND_NORMAL);
  EXPECT_EQ(scheduled[1].workflow_task_scheduled_event_attributes().task_queue().name(), "sticky-reset");
  EXPECT_GE(metrics.Total("workflow_cache_miss"), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT), 0);

  ASSERT_OK_AND_ASSIGN(auto done, ToPayloads(std::string("done")));
  for (const char* id : {"reset-a", "reset-b"}) ASSERT_OK(Signal(*conn_, id, "done", done));
  ASSERT_OK_AND_ASSIGN(int a, WaitResult<int>(*conn_, "reset-a"));
  EXPECT_EQ(a, 5);
  ASSERT_OK_AND_ASSIGN(int b, WaitResult<int>(*conn_, "reset-b"));
  EXPECT_EQ(b, 0);
  EXPECT_EQ(metrics.Total("workflow_task_failed"), 0);
}

TEST_F(WorkerStickyTest, CacheOfZeroTurnsStickyExecutionOff) {
  ASSERT_NE(NewWorker("sticky-off", RegisterAll, {.max_cached_workflows = 0, .metrics = metrics.Hook()}),
            nullptr);
  ASSERT_OK_AND_ASSIGN(auto steps, ToPayloads(2));
  ASSERT_OK(StartWorkflow(*conn_, "Steps", "off-1", "sticky-off", steps).status());
  ASSERT_OK_AND_ASSIGN(int done, WaitResult<int>(*conn_, "off-1"));
  EXPECT_EQ(done, 2);
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "off-1"));
  EXPECT_EQ(CountStickyScheduled(events), 0);
  EXPECT_EQ(metrics.Total("workflow_cache_hit"), 0);
  EXPECT_GE(metrics.Total("workflow_cache_miss"), 3);
}

TEST_F(WorkerStickyTest, ChangedCodeOnAnotherWorkerIsCaughtOnFullReplay) {
  Worker* first = NewWorker("sticky-nd", RegisterAll);
  ASSERT_NE(first, nullptr);
  ASSERT_OK_AND_ASSIGN(auto steps, ToPayloads(30));
  ASSERT_OK(StartWorkflow(*conn_, "Steps", "nd-1", "sticky-nd", steps).status());
  ASSERT_TRUE(WaitFor([&] {
    auto events = GetHistory(*conn_, "nd-1");
    return events.ok() && CountEvents(*events, enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED) >= 1;
  }, std::chrono::seconds(30)));
  // Graceful shutdown names the sticky queue: the next task goes to the
  // normal queue, where the changed worker replays the full history.
  ASSERT_OK(first->Shutdown());
  ASSERT_NE(NewWorker("sticky-nd",
                      [](Worker& worker) {
                        (void)worker.RegisterWorkflow("Steps", &StepsChanged);
                        RegisterTestActivities(worker);
                      }),
            nullptr);
  std::string message;
  ASSERT_TRUE(WaitFor([&] {
    auto events = GetHistory(*conn_, "nd-1");
    if (!events.ok()) return false;
    for (const auto& e : *events) {
      if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_FAILED &&
          e.workflow_task_failed_event_attributes().cause() ==
              enums::WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR) {
        message = e.workflow_task_failed_event_attributes().failure().message();
        return true;
      }
    }
    return false;
  }, std::chrono::seconds(60)));
  EXPECT_NE(message.find("Compose"), std::string::npos) << message;
  ASSERT_OK(RequestCancel(*conn_, "nd-1"));
}

TEST_F(WorkerStickyTest, NegativeCacheSizeIsInvalid) {
  auto worker = Worker::Make(conn_, {.task_queue = "bad", .max_cached_workflows = -1});
  ASSERT_RAISES(Invalid, worker.status());
  EXPECT_NE(worker.status().message().find("max_cached_workflows"), std::string::npos);
}

}  // namespace
}  // namespace flightdeck::temporal::testing
