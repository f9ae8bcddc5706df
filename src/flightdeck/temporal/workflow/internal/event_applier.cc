// Applying one history event to a workflow run (protocol doc 5.4): inputs and
// resolutions become jobs that run at the next activation.
#include <google/protobuf/util/time_util.h>

#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/workflow/internal/proto_util.h"
#include "flightdeck/temporal/workflow/internal/workflow_run.h"

namespace flightdeck::temporal::workflow::internal {

namespace enums = ::temporal::api::enums::v1;

namespace {

uint64_t Fnv1a(const std::string& text) {
  uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

Failure Wrap(const std::string& message, const Failure& cause) {
  Failure failure;
  failure.set_message(message);
  failure.set_source(kFailureSource);
  *failure.mutable_cause() = cause;
  return failure;
}

}  // namespace

arrow::Status WorkflowRun::ApplyEvent(const HistoryEvent& event) {
  switch (event.event_type()) {
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: {
      const auto& attrs = event.workflow_execution_started_event_attributes();
      info_.workflow_type = attrs.workflow_type().name();
      if (info_.task_queue.empty()) info_.task_queue = attrs.task_queue().name();
      info_.attempt = attrs.attempt();
      info_.first_execution_run_id = attrs.first_execution_run_id();
      info_.original_execution_run_id = attrs.original_execution_run_id();
      info_.continued_execution_run_id = attrs.continued_execution_run_id();
      info_.parent_workflow_id = attrs.parent_workflow_execution().workflow_id();
      info_.parent_run_id = attrs.parent_workflow_execution().run_id();
      input_ = attrs.input();
      started_header_ = attrs.header();
      start_time_ = std::chrono::system_clock::time_point(std::chrono::nanoseconds(
          google::protobuf::util::TimeUtil::TimestampToNanoseconds(event.event_time())));
      const std::string& seed = info_.original_execution_run_id.empty()
                                    ? info_.run_id
                                    : info_.original_execution_run_id;
      rng_.seed(Fnv1a(seed));
      jobs_.push_back([this] {
        started_ = true;
        main_ = function_(context_, input_);
      });
      return arrow::Status::OK();
    }
    case enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
    case enums::EVENT_TYPE_WORKFLOW_TASK_STARTED:
    case enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
    case enums::EVENT_TYPE_WORKFLOW_TASK_FAILED:
    case enums::EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
      return arrow::Status::OK();
    case enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
    case enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
    case enums::EVENT_TYPE_TIMER_STARTED:
    case enums::EVENT_TYPE_TIMER_CANCELED:
    case enums::EVENT_TYPE_MARKER_RECORDED:
    case enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
    case enums::EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
      return MatchCommandEvent(event);
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: {
      const auto& attrs = event.workflow_execution_signaled_event_attributes();
      jobs_.push_back([this, name = attrs.signal_name(), input = attrs.input()] {
        DeliverSignal(name, input);
      });
      return arrow::Status::OK();
    }
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
      jobs_.push_back([this] {
        cancel_requested_ = true;
        cancel_promise_.Resolve(arrow::Status::OK());
      });
      return arrow::Status::OK();
    default:
      return ApplyReferenceEvent(event);
  }
}

arrow::Status WorkflowRun::UnknownReference(const HistoryEvent& event, const char* what, int64_t id) {
  return Nondeterminism(DescribeEvent(event) + " refers to " + what + " event " + std::to_string(id) +
                        " that no command of this workflow produced");
}

arrow::Status WorkflowRun::ApplyReferenceEvent(const HistoryEvent& event) {
  switch (event.event_type()) {
    case enums::EVENT_TYPE_ACTIVITY_TASK_STARTED:
    case enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
    case enums::EVENT_TYPE_ACTIVITY_TASK_FAILED:
    case enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
    case enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED:
      return ApplyActivityEvent(event);
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
    case enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED:
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED:
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT:
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED:
      return ApplyChildEvent(event);
    case enums::EVENT_TYPE_TIMER_FIRED: {
      const int64_t id = event.timer_fired_event_attributes().started_event_id();
      auto it = timer_by_event_.find(id);
      if (it == timer_by_event_.end()) return UnknownReference(event, "timer started", id);
      TimerMachine* machine = &timers_[it->second];
      jobs_.push_back([machine] { machine->fired.Resolve(arrow::Status::OK()); });
      return arrow::Status::OK();
    }
    case enums::EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
    case enums::EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED:
      return arrow::Status::OK();
    default:
      if (event.worker_may_ignore()) return arrow::Status::OK();
      return Nondeterminism("unsupported history event " + DescribeEvent(event));
  }
}

arrow::Status WorkflowRun::ApplyActivityEvent(const HistoryEvent& event) {
  if (event.event_type() == enums::EVENT_TYPE_ACTIVITY_TASK_STARTED) {
    const int64_t id = event.activity_task_started_event_attributes().scheduled_event_id();
    return activity_by_event_.count(id) ? arrow::Status::OK() : UnknownReference(event, "activity scheduled", id);
  }
  // A failed, timed-out or cancelled activity resolves its future with an
  // ActivityFailure around the cause, as the other SDKs raise it.
  auto resolve = [&](int64_t scheduled_id, int64_t started_id, const char* message, const Failure* cause,
                     enums::RetryState retry_state, const Payloads* result) -> arrow::Status {
    auto it = activity_by_event_.find(scheduled_id);
    if (it == activity_by_event_.end()) return UnknownReference(event, "activity scheduled", scheduled_id);
    ActivityMachine* machine = &activities_[it->second];
    if (result) {
      jobs_.push_back([machine, result = *result] { machine->result.Resolve(result); });
      return arrow::Status::OK();
    }
    Failure failure = Wrap(message, *cause);
    auto* info = failure.mutable_activity_failure_info();
    info->set_scheduled_event_id(scheduled_id);
    info->set_started_event_id(started_id);
    info->mutable_activity_type()->set_name(machine->activity_type);
    info->set_activity_id(machine->activity_id);
    info->set_retry_state(retry_state);
    jobs_.push_back([machine, status = FailureToStatus(failure)] { machine->result.Resolve(status); });
    return arrow::Status::OK();
  };
  switch (event.event_type()) {
    case enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
      const auto& attrs = event.activity_task_completed_event_attributes();
      return resolve(attrs.scheduled_event_id(), attrs.started_event_id(), nullptr, nullptr,
                     enums::RETRY_STATE_UNSPECIFIED, &attrs.result());
    }
    case enums::EVENT_TYPE_ACTIVITY_TASK_FAILED: {
      const auto& attrs = event.activity_task_failed_event_attributes();
      return resolve(attrs.scheduled_event_id(), attrs.started_event_id(), "Activity task failed", &attrs.failure(),
                     attrs.retry_state(), nullptr);
    }
    case enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: {
      const auto& attrs = event.activity_task_timed_out_event_attributes();
      return resolve(attrs.scheduled_event_id(), attrs.started_event_id(), "Activity task timed out",
                     &attrs.failure(), attrs.retry_state(), nullptr);
    }
    default: {  // EVENT_TYPE_ACTIVITY_TASK_CANCELED
      const auto& attrs = event.activity_task_canceled_event_attributes();
      Failure canceled;
      canceled.set_message("activity canceled");
      *canceled.mutable_canceled_failure_info()->mutable_details() = attrs.details();
      return resolve(attrs.scheduled_event_id(), attrs.started_event_id(), "Activity cancelled", &canceled,
                     enums::RETRY_STATE_CANCEL_REQUESTED, nullptr);
    }
  }
}

arrow::Status WorkflowRun::ApplyChildEvent(const HistoryEvent& event) {
  auto resolve = [&](int64_t initiated_id, Outcome<Payloads> outcome) -> arrow::Status {
    auto it = child_by_event_.find(initiated_id);
    if (it == child_by_event_.end()) return UnknownReference(event, "child workflow initiated", initiated_id);
    ChildMachine* machine = &children_[it->second];
    jobs_.push_back([machine, outcome = std::move(outcome)] { machine->result.Resolve(outcome); });
    return arrow::Status::OK();
  };
  switch (event.event_type()) {
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: {
      const int64_t id = event.child_workflow_execution_started_event_attributes().initiated_event_id();
      return child_by_event_.count(id) ? arrow::Status::OK() : UnknownReference(event, "child workflow initiated", id);
    }
    case enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: {
      const auto& attrs = event.start_child_workflow_execution_failed_event_attributes();
      return resolve(attrs.initiated_event_id(),
                     arrow::Status::AlreadyExists("child workflow ", attrs.workflow_id(), " could not start: ",
                                                  enums::StartChildWorkflowExecutionFailedCause_Name(attrs.cause())));
    }
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: {
      const auto& attrs = event.child_workflow_execution_completed_event_attributes();
      return resolve(attrs.initiated_event_id(), attrs.result());
    }
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: {
      const auto& attrs = event.child_workflow_execution_failed_event_attributes();
      return resolve(attrs.initiated_event_id(),
                     FailureToStatus(Wrap("Child Workflow execution failed", attrs.failure())));
    }
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: {
      const auto& attrs = event.child_workflow_execution_canceled_event_attributes();
      return resolve(attrs.initiated_event_id(), arrow::Status::Cancelled("child workflow canceled"));
    }
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: {
      const auto& attrs = event.child_workflow_execution_timed_out_event_attributes();
      Failure timeout;
      timeout.set_message("child workflow timed out");
      timeout.mutable_timeout_failure_info()->set_timeout_type(enums::TIMEOUT_TYPE_START_TO_CLOSE);
      return resolve(attrs.initiated_event_id(),
                     FailureToStatus(Wrap("Child Workflow execution timed out", timeout)));
    }
    default: {  // EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED
      const auto& attrs = event.child_workflow_execution_terminated_event_attributes();
      return resolve(attrs.initiated_event_id(), arrow::Status::ExecutionError("child workflow terminated"));
    }
  }
}

}  // namespace flightdeck::temporal::workflow::internal
