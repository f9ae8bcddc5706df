// Workflow runtime features against a real dev server: outcomes and the
// history each feature writes.
#include <gtest/gtest.h>

#include "sdk_test_env.h"
#include "test_workflows.h"

namespace flightdeck::temporal::testing {
namespace {

class WorkflowFeaturesTest : public SdkTest {
 protected:
  void StartWorker(WorkerOptions options = {}) {
    NewWorker("wf-tq", RegisterAll, options);
  }
};

TEST_F(WorkflowFeaturesTest, ActivityAndTimer) {
  StartWorker();
  ASSERT_OK_AND_ASSIGN(auto payloads, ToPayloads(std::string("Ada")));
  ASSERT_OK(StartWorkflow(*conn_, "Greet", "greet-1", "wf-tq", payloads).status());
  ASSERT_OK_AND_ASSIGN(auto result, WaitResult<std::string>(*conn_, "greet-1"));
  EXPECT_EQ(result, "Hello, Ada!");
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "greet-1"));
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_TIMER_STARTED), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_TIMER_FIRED), 1);
  for (const auto& e : events) {
    if (e.event_type() == enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
      EXPECT_EQ(e.activity_task_scheduled_event_attributes().activity_type().name(), "Compose");
      EXPECT_EQ(e.activity_task_scheduled_event_attributes().activity_id(), "1");
    }
  }
}

TEST_F(WorkflowFeaturesTest, WhenAllAndWhenAny) {
  StartWorker();
  ASSERT_OK_AND_ASSIGN(auto payloads, ToPayloads(4));
  ASSERT_OK(StartWorkflow(*conn_, "FanOut", "fan-1", "wf-tq", payloads).status());
  ASSERT_OK_AND_ASSIGN(int result, WaitResult<int>(*conn_, "fan-1"));
  EXPECT_EQ(result, 1 + 4 + 9 + 16 + 100);
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "fan-1"));
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), 5);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_TIMER_STARTED), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_TIMER_CANCELED), 1);
}

TEST_F(WorkflowFeaturesTest, SignalsBufferedAndQueries) {
  // Signals arrive before any worker runs: they must be buffered, not lost.
  ASSERT_OK(StartWorkflow(*conn_, "SignalCounter", "sig-1", "wf-tq", {}).status());
  for (int v : {1, 2, 3}) {
    ASSERT_OK_AND_ASSIGN(auto p, ToPayloads(v));
    ASSERT_OK(Signal(*conn_, "sig-1", "add", p));
  }
  StartWorker();
  // The query sees the signals applied (it waits for the worker).
  ASSERT_TRUE(WaitFor([&] {
    auto answer = Query(*conn_, "sig-1", "total");
    return answer.ok() && FromPayloads<int>(*answer).ValueOr(-1) == 6;
  }, std::chrono::seconds(30)));
  auto unknown = Query(*conn_, "sig-1", "nope");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown query type 'nope'"), std::string::npos)
      << unknown.status().ToString();
  ASSERT_OK_AND_ASSIGN(auto p, ToPayloads(10));
  ASSERT_OK(Signal(*conn_, "sig-1", "add", p));
  ASSERT_OK_AND_ASSIGN(auto done, ToPayloads(std::string("now")));
  ASSERT_OK(Signal(*conn_, "sig-1", "done", done));
  ASSERT_OK_AND_ASSIGN(int result, WaitResult<int>(*conn_, "sig-1"));
  EXPECT_EQ(result, 16);
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "sig-1"));
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED), 5);
  // Queries on a closed workflow replay its full history.
  ASSERT_OK_AND_ASSIGN(auto closed_answer, Query(*conn_, "sig-1", "total"));
  EXPECT_EQ(FromPayloads<int>(closed_answer).ValueOr(-1), 16);
}

TEST_F(WorkflowFeaturesTest, SideEffectAndPatchMarkers) {
  StartWorker();
  ASSERT_OK(StartWorkflow(*conn_, "Markers", "markers-1", "wf-tq", {}).status());
  ASSERT_OK_AND_ASSIGN(auto result, WaitResult<std::string>(*conn_, "markers-1"));
  // The second side effect's function returns -1 live; "v2" since the run
  // started with the patch in place.
  EXPECT_NE(result.find("/v2/-1"), std::string::npos) << result;
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "markers-1"));
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_MARKER_RECORDED), 3);
  const std::string first_value = result.substr(0, result.find('/'));
  bool found = false;
  for (const auto& e : events) {
    if (e.event_type() != enums::EVENT_TYPE_MARKER_RECORDED) continue;
    const auto& attrs = e.marker_recorded_event_attributes();
    if (attrs.marker_name() == "SideEffect" && attrs.details().at("side-effect-id").payloads(0).data() == "1") {
      EXPECT_EQ(attrs.details().at("data").payloads(0).data(), first_value);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(WorkflowFeaturesTest, CancellationEndsCanceled) {
  StartWorker();
  ASSERT_OK(StartWorkflow(*conn_, "Cancellable", "cancel-1", "wf-tq", {}).status());
  ASSERT_TRUE(WaitFor([&] {
    auto events = GetHistory(*conn_, "cancel-1");
    return events.ok() && CountEvents(*events, enums::EVENT_TYPE_TIMER_STARTED) == 1;
  }, std::chrono::seconds(30)));
  ASSERT_OK(RequestCancel(*conn_, "cancel-1"));
  ASSERT_OK_AND_ASSIGN(auto closed, WaitClosed(*conn_, "cancel-1"));
  EXPECT_EQ(closed.event_type(), enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED);
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "cancel-1"));
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_TIMER_CANCELED), 1);
}

TEST_F(WorkflowFeaturesTest, ContinueAsNewChain) {
  StartWorker();
  ASSERT_OK_AND_ASSIGN(auto payloads, ToPayloads(0));
  ASSERT_OK_AND_ASSIGN(std::string first_run, StartWorkflow(*conn_, "Chain", "chain-1", "wf-tq", payloads));
  ASSERT_OK_AND_ASSIGN(auto first_close, WaitClosed(*conn_, "chain-1", first_run));
  EXPECT_EQ(first_close.event_type(), enums::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW);
  // Follow the chain to the last run.
  std::string run = first_close.workflow_execution_continued_as_new_event_attributes().new_execution_run_id();
  int runs = 1;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(auto close, WaitClosed(*conn_, "chain-1", run));
    ++runs;
    if (close.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW) {
      run = close.workflow_execution_continued_as_new_event_attributes().new_execution_run_id();
      continue;
    }
    ASSERT_EQ(close.event_type(), enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
    EXPECT_EQ(FromPayloads<int>(close.workflow_execution_completed_event_attributes().result()).ValueOr(-1), 3);
    break;
  }
  EXPECT_EQ(runs, 4);
}

TEST_F(WorkflowFeaturesTest, ChildWorkflow) {
  StartWorker();
  ASSERT_OK_AND_ASSIGN(auto payloads, ToPayloads(std::string("Kid")));
  ASSERT_OK(StartWorkflow(*conn_, "Parent", "parent-1", "wf-tq", payloads).status());
  ASSERT_OK_AND_ASSIGN(auto result, WaitResult<std::string>(*conn_, "parent-1"));
  EXPECT_EQ(result, "Hello, Kid!");
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "parent-1"));
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED), 1);
  ASSERT_OK_AND_ASSIGN(auto child_events, GetHistory(*conn_, "parent-1/child-1"));
  EXPECT_EQ(child_events.front().workflow_execution_started_event_attributes().parent_workflow_execution().workflow_id(),
            "parent-1");
}

TEST_F(WorkflowFeaturesTest, UnregisteredWorkflowFailsTaskNotWorkflow) {
  StartWorker();
  ASSERT_OK(StartWorkflow(*conn_, "NoSuchWorkflow", "missing-1", "wf-tq", {}).status());
  ASSERT_TRUE(WaitFor([&] {
    auto events = GetHistory(*conn_, "missing-1");
    return events.ok() && CountEvents(*events, enums::EVENT_TYPE_WORKFLOW_TASK_FAILED) == 1;
  }, std::chrono::seconds(30)));
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "missing-1"));
  for (const auto& e : events) {
    if (e.event_type() != enums::EVENT_TYPE_WORKFLOW_TASK_FAILED) continue;
    EXPECT_NE(e.workflow_task_failed_event_attributes().failure().message().find("NoSuchWorkflow"),
              std::string::npos);
  }
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED), 0);
}

}  // namespace
}  // namespace flightdeck::temporal::testing
