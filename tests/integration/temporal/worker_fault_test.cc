// Fault tests: a worker process SIGKILLed mid-workflow (holding the run in
// its sticky cache) is replaced and the workflow finishes; the dev server stopped and restarted on the same SQLite
// state, the workflow completes.
#include <csignal>
#include <filesystem>
#include <map>

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

bool IsStickyOf(const HistoryEvent& scheduled, const std::string& identity) {
  const auto& queue = scheduled.workflow_task_scheduled_event_attributes().task_queue();
  return queue.kind() == enums::TASK_QUEUE_KIND_STICKY && queue.name().rfind(identity + "-", 0) == 0;
}

// The worker killed while holding the run in its sticky cache: tasks the
// server still puts on its sticky queue time out there (schedule-to-start)
// and move to the normal queue, where the new worker replays and finishes.
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
  // The killed worker held the run sticky: its later tasks came through
  // its sticky queue.
  std::map<int64_t, HistoryEvent> scheduled;
  for (const auto& e : before) {
    if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) scheduled[e.event_id()] = e;
  }
  int sticky_before = 0;
  for (const auto& [id, e] : scheduled) sticky_before += IsStickyOf(e, "first") ? 1 : 0;
  EXPECT_GE(sticky_before, 1);

  auto second = StartWorkerProcess("second");
  ASSERT_NE(second, nullptr);
  ASSERT_OK_AND_ASSIGN(int done, WaitResult<int>(*conn_, "fault-1"));
  EXPECT_EQ(done, 12);
  ASSERT_OK_AND_ASSIGN(auto events, GetHistory(*conn_, "fault-1"));
  EXPECT_GE(CountByIdentity(events, "first"), 1);
  EXPECT_GE(CountByIdentity(events, "second"), 1);
  EXPECT_EQ(CountEvents(events, enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), 12);
  // After the kill: every task put on the dead worker's sticky queue timed
  // out there (none was started), and the new worker's first task came
  // from the normal queue.
  const int64_t killed_at = before.back().event_id();
  std::map<int64_t, const HistoryEvent*> timed_out;  // by scheduled event id
  const HistoryEvent* first_of_second = nullptr;
  for (const auto& e : events) {
    if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) scheduled[e.event_id()] = e;
    if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) {
      timed_out[e.workflow_task_timed_out_event_attributes().scheduled_event_id()] = &e;
    }
    if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_STARTED && first_of_second == nullptr &&
        e.workflow_task_started_event_attributes().identity() == "second") {
      first_of_second = &scheduled[e.workflow_task_started_event_attributes().scheduled_event_id()];
    }
  }
  for (const auto& [id, e] : scheduled) {
    if (id <= killed_at || !IsStickyOf(e, "first")) continue;
    ASSERT_EQ(timed_out.count(id), 1u) << "sticky task " << id << " of the killed worker did not time out";
    EXPECT_EQ(timed_out[id]->workflow_task_timed_out_event_attributes().timeout_type(),
              enums::TIMEOUT_TYPE_SCHEDULE_TO_START);
  }
  ASSERT_NE(first_of_second, nullptr);
  EXPECT_EQ(first_of_second->workflow_task_scheduled_event_attributes().task_queue().kind(),
            enums::TASK_QUEUE_KIND_NORMAL);
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
