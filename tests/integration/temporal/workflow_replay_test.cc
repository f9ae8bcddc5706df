// Replay tests: histories exported with `temporal workflow show --output
// json` from real runs replay without a server; a changed workflow is
// reported as nondeterministic, naming the event and the command.
#include <cstdio>

#include <gtest/gtest.h>

#include "flightdeck/temporal/worker/replayer.h"
#include "sdk_test_env.h"
#include "test_workflows.h"

namespace flightdeck::temporal::testing {
namespace {

class WorkflowReplayTest : public SdkTest {
 protected:
  // The CLI's JSON export of a workflow's history.
  arrow::Result<std::string> ExportHistory(const std::string& workflow_id) {
    const std::string command = DefaultTemporalBinary() + " workflow show --workflow-id " + workflow_id +
                                " --output json --address " + server_->target() + " 2>/dev/null";
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return arrow::Status::IOError("cannot run ", command);
    std::string out;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
    const int rc = pclose(pipe);
    if (rc != 0) return arrow::Status::IOError(command, " exited with ", rc);
    return out;
  }

  workflow::WorkflowRegistry Registry() {
    workflow::WorkflowRegistry registry;
    EXPECT_OK(registry.Register("Greet", &Greet));
    EXPECT_OK(registry.Register("FanOut", &FanOut));
    EXPECT_OK(registry.Register("Markers", &Markers));
    EXPECT_OK(registry.Register("SignalCounter", &SignalCounter));
    return registry;
  }
};

TEST_F(WorkflowReplayTest, ExportedHistoriesReplay) {
  NewWorker("replay-tq", RegisterAll);
  ASSERT_OK_AND_ASSIGN(auto name, ToPayloads(std::string("R")));
  ASSERT_OK_AND_ASSIGN(auto four, ToPayloads(4));
  ASSERT_OK(StartWorkflow(*conn_, "Greet", "r-greet", "replay-tq", name).status());
  ASSERT_OK(StartWorkflow(*conn_, "FanOut", "r-fan", "replay-tq", four).status());
  ASSERT_OK(StartWorkflow(*conn_, "Markers", "r-markers", "replay-tq", {}).status());
  ASSERT_OK(StartWorkflow(*conn_, "SignalCounter", "r-sig", "replay-tq", {}).status());
  ASSERT_OK_AND_ASSIGN(auto one, ToPayloads(1));
  ASSERT_OK(Signal(*conn_, "r-sig", "add", one));
  ASSERT_OK_AND_ASSIGN(auto done, ToPayloads(std::string("x")));
  ASSERT_OK(Signal(*conn_, "r-sig", "done", done));
  auto registry = Registry();
  for (const char* id : {"r-greet", "r-fan", "r-markers", "r-sig"}) {
    ASSERT_OK(WaitClosed(*conn_, id).status());
    ASSERT_OK_AND_ASSIGN(std::string json, ExportHistory(id));
    ASSERT_OK_AND_ASSIGN(auto history, HistoryFromJson(json));
    EXPECT_GT(history.events_size(), 5) << id;
    const arrow::Status replayed = ReplayHistory(registry, history, id);
    EXPECT_TRUE(replayed.ok()) << id << ": " << replayed.ToString();
  }
}

TEST_F(WorkflowReplayTest, ChangedWorkflowIsNondeterministic) {
  NewWorker("replay-tq", RegisterAll);
  ASSERT_OK_AND_ASSIGN(auto name, ToPayloads(std::string("R")));
  ASSERT_OK(StartWorkflow(*conn_, "Greet", "r-change", "replay-tq", name).status());
  ASSERT_OK(WaitClosed(*conn_, "r-change").status());
  ASSERT_OK_AND_ASSIGN(std::string json, ExportHistory("r-change"));
  ASSERT_OK_AND_ASSIGN(auto history, HistoryFromJson(json));

  workflow::WorkflowRegistry changed;
  ASSERT_OK(changed.Register("Greet", &GreetChanged));
  arrow::Status status = ReplayHistory(changed, history, "r-change");
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(IsNondeterminismError(status)) << status.ToString();
  EXPECT_NE(status.message().find("event 5 ActivityTaskScheduled(activity_id=1, type=Compose)"),
            std::string::npos) << status.ToString();
  EXPECT_NE(status.message().find("ScheduleActivityTask(activity_id=1, type=Compose2)"), std::string::npos)
      << status.ToString();

  workflow::WorkflowRegistry none;
  ASSERT_RAISES(KeyError, ReplayHistory(none, history));
  ASSERT_RAISES(SerializationError, HistoryFromJson("{not json"));
  ASSERT_OK_AND_ASSIGN(auto empty, HistoryFromJson("{\"events\": []}"));
  ASSERT_RAISES(Invalid, ReplayHistory(changed, empty));
}

TEST_F(WorkflowReplayTest, LiveNondeterminismFailsWorkflowTask) {
  // A worker with the changed code picks up a history written by the
  // original code: the workflow task fails with NON_DETERMINISTIC_ERROR and
  // the workflow stays open.
  ASSERT_OK_AND_ASSIGN(auto name, ToPayloads(std::string("N")));
  ASSERT_OK(StartWorkflow(*conn_, "Greet", "r-live", "live-tq", name).status());
  static std::atomic<bool> running{false};
  Worker* original = NewWorker("live-tq", [](Worker& w) {
    RegisterTestWorkflows(w);
    (void)w.RegisterActivity("Compose", [](ActivityContext&, std::string) -> arrow::Result<std::string> {
      running = true;
      std::this_thread::sleep_for(1s);  // still running when the worker shuts down
      return std::string("late");
    });
  });
  ASSERT_TRUE(WaitFor([&] { return running.load(); }, std::chrono::seconds(30)));
  ASSERT_OK(original->Shutdown());  // finishes the activity, which schedules a new workflow task
  NewWorker("live-tq", [](Worker& w) { (void)w.RegisterWorkflow("Greet", &GreetChanged); });
  ASSERT_TRUE(WaitFor([&] {
    auto events = GetHistory(*conn_, "r-live");
    return events.ok() && CountEvents(*events, enums::EVENT_TYPE_WORKFLOW_TASK_FAILED) >= 1;
  }, std::chrono::seconds(30)));
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "r-live"));
  for (const auto& e : events) {
    if (e.event_type() != enums::EVENT_TYPE_WORKFLOW_TASK_FAILED) continue;
    const auto& attrs = e.workflow_task_failed_event_attributes();
    EXPECT_EQ(attrs.cause(), enums::WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR);
    EXPECT_NE(attrs.failure().message().find("Compose2"), std::string::npos) << attrs.failure().message();
  }
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED), 0);
}

}  // namespace
}  // namespace flightdeck::temporal::testing
