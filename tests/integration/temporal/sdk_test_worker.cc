// sdk_test_worker: a standalone C++ worker process serving the test
// workflows and activities, for fault tests (SIGKILL mid-workflow) and the
// Python interop tests.
//
//   sdk_test_worker --target 127.0.0.1:7233 --task-queue q [--identity id]
//                   [--workflow-slots n] [--activity-slots n]
//                   [--workflow-polls n] [--activity-polls n] [--eager-activities 0|1]
//                   [--max-cached n] [--max-eager n]
// Prints "worker ready" once polling; stops cleanly on SIGTERM or SIGINT.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "flightdeck/temporal/client/connection.h"
#include "test_workflows.h"

namespace {

volatile std::sig_atomic_t stop_requested = 0;
void OnSignal(int) { stop_requested = 1; }

}  // namespace

namespace flightdeck::temporal::testing {

/// Calls the Python worker's activity "py_reverse" on another task queue.
inline Task<std::string> CallPython(WorkflowContext& ctx, std::string text, std::string queue) {
  ActivityOptions options = QuickActivity();
  options.task_queue = queue;
  co_return co_await ctx.ExecuteActivity<std::string>("py_reverse", options, text);
}

}  // namespace flightdeck::temporal::testing

int main(int argc, char** argv) {
  using namespace flightdeck::temporal;
  std::string target = "127.0.0.1:7233", task_queue, identity;
  int workflow_slots = 2, activity_slots = 4, workflow_polls = 0, activity_polls = 0;
  int max_cached = WorkerOptions{}.max_cached_workflows;
  int max_eager = WorkerOptions{}.max_eager_activities_per_workflow_task;
  bool eager = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--target") target = argv[i + 1];
    else if (flag == "--task-queue") task_queue = argv[i + 1];
    else if (flag == "--identity") identity = argv[i + 1];
    else if (flag == "--workflow-slots") workflow_slots = std::atoi(argv[i + 1]);
    else if (flag == "--activity-slots") activity_slots = std::atoi(argv[i + 1]);
    else if (flag == "--workflow-polls") workflow_polls = std::atoi(argv[i + 1]);
    else if (flag == "--activity-polls") activity_polls = std::atoi(argv[i + 1]);
    else if (flag == "--max-cached") max_cached = std::atoi(argv[i + 1]);
    else if (flag == "--max-eager") max_eager = std::atoi(argv[i + 1]);
    else if (flag == "--eager-activities") eager = std::strcmp(argv[i + 1], "0") != 0;
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (task_queue.empty()) {
    std::cerr << "--task-queue is required\n";
    return 2;
  }
  auto conn = Connection::Connect({.target = target});
  if (!conn.ok()) {
    std::cerr << conn.status().ToString() << "\n";
    return 1;
  }
  auto worker = Worker::Make(*conn, {.task_queue = task_queue,
                                     .identity = identity,
                                     .max_concurrent_workflow_tasks = workflow_slots,
                                     .max_concurrent_workflow_task_polls = workflow_polls,
                                     .max_concurrent_activities = activity_slots,
                                     .max_concurrent_activity_task_polls = activity_polls,
                                     .eager_activities = eager,
                                     .max_eager_activities_per_workflow_task = max_eager,
                                     .max_cached_workflows = max_cached});
  if (!worker.ok()) {
    std::cerr << worker.status().ToString() << "\n";
    return 1;
  }
  testing::RegisterTestWorkflows(**worker);
  testing::RegisterTestActivities(**worker);
  (void)(*worker)->RegisterWorkflow("CallPython", &testing::CallPython);
  (void)(*worker)->RegisterActivity(
      "cpp_upper", [](ActivityContext&, std::string text) -> arrow::Result<std::string> {
        for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return text;
      });
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  auto started = (*worker)->Start();
  if (!started.ok()) {
    std::cerr << started.ToString() << "\n";
    return 1;
  }
  std::cout << "worker ready" << std::endl;
  while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto stopped = (*worker)->Shutdown();
  return stopped.ok() ? 0 : 1;
}
