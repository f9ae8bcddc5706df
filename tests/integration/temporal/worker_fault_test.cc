// Fault tests: a worker process SIGKILLed mid-workflow is replaced and the
// workflow finishes; the dev server stopped and restarted on the same SQLite
// state, the workflow completes.
#include <csignal>
#include <filesystem>

#include <gtest/gtest.h>

#include "flightdeck/common/subprocess.h"
#include "sdk_test_env.h"
#include "test_workflows.h"

namespace flightdeck::temporal::testing {
namespace {

class WorkerFaultTest : public SdkTest {
 protected:
  std::unique_ptr<Subprocess> StartWorkerProcess(const std::string& identity) {
    auto log = std::filesystem::temp_directory_path() / ("sdk_test_worker_" + identity + ".log");
    auto process = Subprocess::Start({.argv = {SDK_TEST_WORKER, "--target", server_->target(), "--task-queue",
                                               "fault-tq", "--identity", identity},
                                      .log_path = log.string()});
    EXPECT_TRUE(process.ok()) << process.status().ToString();
    return process.ok() ? std::move(*process) : nullptr;
  }
};

int CountByIdentity(const std::vector<HistoryEvent>& events, const std::string& identity) {
  int n = 0;
  for (const auto& e : events) {
    if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_STARTED &&
        e.workflow_task_started_event_attributes().identity() == identity) {
      ++n;
    }
  }
  return n;
}

TEST_F(WorkerFaultTest, KilledWorkerIsReplacedAndWorkflowFinishes) {
  auto first = StartWorkerProcess("first");
  ASSERT_NE(first, nullptr);
  ASSERT_OK_AND_ASSIGN(auto steps, ToPayloads(12));
  ASSERT_OK(StartWorkflow(*conn_, "Steps", "fault-1", "fault-tq", steps).status());
  ASSERT_TRUE(WaitFor([&] {
    auto events = GetHistory(*conn_, "fault-1");
    return events.ok() && CountEvents(*events, enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED) >= 2;
  }, std::chrono::seconds(60)));
  ASSERT_OK(first->Signal(SIGKILL));
  ASSERT_OK(first->Wait(std::chrono::seconds(10)).status());
  ASSERT_OK_AND_ASSIGN(auto before, GetHistory(*conn_, "fault-1"));
  ASSERT_EQ(CountEvents(before, enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED), 0);

  auto second = StartWorkerProcess("second");
  ASSERT_NE(second, nullptr);
  ASSERT_OK_AND_ASSIGN(int done, WaitResult<int>(*conn_, "fault-1"));
  EXPECT_EQ(done, 12);
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "fault-1"));
  EXPECT_GE(CountByIdentity(events, "first"), 1);
  EXPECT_GE(CountByIdentity(events, "second"), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), 12);
  ASSERT_OK(second->Stop());
}

TEST(WorkerServerRestartTest, WorkflowCompletesAcrossServerRestart) {
  auto state_dir = std::filesystem::temp_directory_path() /
                   ("fd_sdk_restart_" + std::to_string(::getpid()));
  std::filesystem::remove_all(state_dir);
  std::filesystem::create_directories(state_dir);
  ASSERT_OK_AND_ASSIGN(auto server, EmbeddedTemporal::Start({.state_dir = state_dir.string()}));
  const int port = server->port();
  ASSERT_OK_AND_ASSIGN(auto conn, Connection::Connect({.target = server->target()}));
  ASSERT_OK_AND_ASSIGN(auto worker, Worker::Make(conn, {.task_queue = "restart-tq"}));
  RegisterTestWorkflows(*worker);
  RegisterTestActivities(*worker);
  ASSERT_OK(worker->Start());
  ASSERT_OK_AND_ASSIGN(auto steps, ToPayloads(8));
  ASSERT_OK(StartWorkflow(*conn, "Steps", "restart-1", "restart-tq", steps).status());
  ASSERT_TRUE(WaitFor([&] {
    auto events = GetHistory(*conn, "restart-1");
    return events.ok() && CountEvents(*events, enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED) >= 2;
  }, std::chrono::seconds(60)));
  ASSERT_OK(server->Stop());
  server.reset();
  ASSERT_OK_AND_ASSIGN(server, EmbeddedTemporal::Start({.state_dir = state_dir.string(), .port = port}));
  ASSERT_OK_AND_ASSIGN(int done, WaitResult<int>(*conn, "restart-1"));
  EXPECT_EQ(done, 8);
  ASSERT_OK(worker->Shutdown());
  ASSERT_OK(server->Stop());
  std::filesystem::remove_all(state_dir);
}

}  // namespace
}  // namespace flightdeck::temporal::testing
