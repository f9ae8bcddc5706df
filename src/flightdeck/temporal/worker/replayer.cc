#include "flightdeck/temporal/worker/replayer.h"

#include "flightdeck/temporal/workflow/internal/workflow_run.h"

namespace flightdeck::temporal {

namespace enums = ::temporal::api::enums::v1;

arrow::Status ReplayHistory(const workflow::WorkflowRegistry& registry, const History& history,
                            const std::string& workflow_id) {
  if (history.events_size() == 0 ||
      history.events(0).event_type() != enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED) {
    return arrow::Status::Invalid("history must begin with WorkflowExecutionStarted");
  }
  const auto& started = history.events(0).workflow_execution_started_event_attributes();
  const std::string& type = started.workflow_type().name();
  const workflow::WorkflowFunction* function = registry.Find(type);
  if (function == nullptr) {
    return arrow::Status::KeyError("workflow type '", type, "' is not registered (registered: ",
                                   registry.Names(), ")");
  }
  workflow::WorkflowInfo info;
  info.workflow_id = workflow_id;
  info.run_id = started.original_execution_run_id();
  info.workflow_type = type;
  info.task_queue = started.task_queue().name();
  workflow::internal::WorkflowRun run(*function, info);
  std::vector<workflow::internal::HistoryEvent> events(history.events().begin(),
                                                       history.events().end());
  return run.Replay(events);
}

bool IsNondeterminismError(const arrow::Status& status) {
  return workflow::internal::IsNondeterminism(status);
}

}  // namespace flightdeck::temporal
