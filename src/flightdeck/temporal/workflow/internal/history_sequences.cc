// Splitting history into workflow task sequences (protocol doc 5.3) and the
// proto helpers of proto_util.h.
#include <google/protobuf/util/time_util.h>

#include "flightdeck/temporal/workflow/internal/proto_util.h"
#include "flightdeck/temporal/workflow/internal/workflow_run.h"

namespace flightdeck::temporal::workflow::internal {

namespace enums = ::temporal::api::enums::v1;

void SetDuration(Duration duration, google::protobuf::Duration* out) {
  if (duration.count() <= 0) return;
  *out = google::protobuf::util::TimeUtil::MillisecondsToDuration(duration.count());
}

void ToProto(const RetryPolicy& policy, ::temporal::api::common::v1::RetryPolicy* out) {
  SetDuration(policy.initial_interval, out->mutable_initial_interval());
  out->set_backoff_coefficient(policy.backoff_coefficient);
  SetDuration(policy.maximum_interval, out->mutable_maximum_interval());
  out->set_maximum_attempts(policy.maximum_attempts);
  for (const auto& type : policy.non_retryable_error_types) out->add_non_retryable_error_types(type);
}

bool IsCloseEvent(const HistoryEvent& event) {
  switch (event.event_type()) {
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
      return true;
    default:
      return false;
  }
}

bool EndsAtWorkflowTaskStarted(const std::vector<HistoryEvent>& sequence) {
  return !sequence.empty() &&
         sequence.back().event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_STARTED;
}

std::vector<std::vector<HistoryEvent>> SplitSequences(const std::vector<HistoryEvent>& events) {
  std::vector<std::vector<HistoryEvent>> sequences;
  std::vector<HistoryEvent> current;
  for (size_t index = 0; index < events.size(); ++index) {
    const HistoryEvent& event = events[index];
    current.push_back(event);
    if (IsCloseEvent(event)) {
      sequences.push_back(std::move(current));
      return sequences;
    }
    if (event.event_type() != enums::EVENT_TYPE_WORKFLOW_TASK_STARTED) continue;
    if (index + 1 < events.size()) {
      switch (events[index + 1].event_type()) {
        case enums::EVENT_TYPE_WORKFLOW_TASK_FAILED:
        case enums::EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        case enums::EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
        case enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
          continue;  // a failed attempt or the end: not a boundary
        default:
          break;
      }
    }
    sequences.push_back(std::move(current));
    current.clear();
  }
  if (!current.empty()) sequences.push_back(std::move(current));
  return sequences;
}

}  // namespace flightdeck::temporal::workflow::internal
