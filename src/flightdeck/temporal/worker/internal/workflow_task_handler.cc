// Replay-from-scratch processing of a workflow task (protocol doc 5.13).
#include <grpcpp/client_context.h>

#include "flightdeck/common/logging.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/worker/internal/task_handlers.h"
#include "flightdeck/temporal/workflow/internal/workflow_run.h"
#include "temporal/api/update/v1/message.pb.h"

namespace flightdeck::temporal::internal {

namespace wsv1 = ::temporal::api::workflowservice::v1;
namespace enums = ::temporal::api::enums::v1;
using workflow::internal::WorkflowRun;

arrow::Result<HistoryEvents> FetchFullHistory(const HandlerEnv& env,
                                              const wsv1::PollWorkflowTaskQueueResponse& task) {
  HistoryEvents events(task.history().events().begin(), task.history().events().end());
  std::string token = task.next_page_token();
  while (!token.empty()) {
    wsv1::GetWorkflowExecutionHistoryRequest request;
    request.set_namespace_(env.options.namespace_name);
    *request.mutable_execution() = task.workflow_execution();
    request.set_next_page_token(token);
    wsv1::GetWorkflowExecutionHistoryResponse response;
    auto context = env.connection->NewContext(env.options.namespace_name);
    ARROW_RETURN_NOT_OK(FromGrpcStatus(
        env.connection->workflow_service().GetWorkflowExecutionHistory(context.get(), request, &response),
        "GetWorkflowExecutionHistory"));
    for (const auto& event : response.history().events()) events.push_back(event);
    token = response.next_page_token();
  }
  for (size_t index = 0; index < events.size(); ++index) {
    if (events[index].event_id() != static_cast<int64_t>(index) + 1) {
      return arrow::Status::IOError("history of ", task.workflow_execution().workflow_id(),
                                    " is not contiguous: expected event ", index + 1, ", got ",
                                    events[index].event_id());
    }
  }
  return events;
}

namespace {

void FillQueryResult(WorkflowRun& run, const ::temporal::api::query::v1::WorkflowQuery& query,
                     ::temporal::api::query::v1::WorkflowQueryResult* out) {
  auto answer = run.Query(query.query_type(), query.query_args());
  if (answer.ok()) {
    out->set_result_type(enums::QUERY_RESULT_TYPE_ANSWERED);
    *out->mutable_answer()->add_payloads() = std::move(*answer);
  } else {
    out->set_result_type(enums::QUERY_RESULT_TYPE_FAILED);
    out->set_error_message(answer.status().message());
    *out->mutable_failure() = StatusToFailure(answer.status());
  }
}

void AnswerLegacyQuery(const HandlerEnv& env, const wsv1::PollWorkflowTaskQueueResponse& task,
                       WorkflowRun* run, const arrow::Status& replayed) {
  wsv1::RespondQueryTaskCompletedRequest request;
  request.set_task_token(task.task_token());
  request.set_namespace_(env.options.namespace_name);
  ::temporal::api::query::v1::WorkflowQueryResult result;
  if (replayed.ok()) {
    FillQueryResult(*run, task.query(), &result);
  } else {
    result.set_result_type(enums::QUERY_RESULT_TYPE_FAILED);
    result.set_error_message("replay failed: " + replayed.message());
  }
  request.set_completed_type(result.result_type());
  *request.mutable_query_result() = result.answer();
  request.set_error_message(result.error_message());
  if (result.has_failure()) *request.mutable_failure() = result.failure();
  wsv1::RespondQueryTaskCompletedResponse response;
  auto context = env.connection->NewContext(env.options.namespace_name);
  auto status = FromGrpcStatus(
      env.connection->workflow_service().RespondQueryTaskCompleted(context.get(), request, &response),
      "RespondQueryTaskCompleted");
  if (!status.ok()) FD_LOG(kWarning) << "answering query failed: " << status.ToString();
  env.Metric("query_answered", 1, task.workflow_type().name());
}

void FailTask(const HandlerEnv& env, const wsv1::PollWorkflowTaskQueueResponse& task,
              enums::WorkflowTaskFailedCause cause, const arrow::Status& error) {
  FD_LOG(kWarning) << "workflow task of " << task.workflow_execution().workflow_id() << " (attempt "
                   << task.attempt() << ") failed: " << error.ToString();
  env.Metric("workflow_task_failed", 1, task.workflow_type().name());
  if (task.attempt() != 1) return;  // avoid hot loops (pitfall 12)
  wsv1::RespondWorkflowTaskFailedRequest request;
  request.set_task_token(task.task_token());
  request.set_namespace_(env.options.namespace_name);
  request.set_identity(env.identity);
  request.set_cause(cause);
  Failure failure;
  failure.set_message(error.message());
  failure.set_source(kFailureSource);
  failure.mutable_application_failure_info()->set_type(
      cause == enums::WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR ? "NondeterminismError"
                                                                         : "WorkflowTaskError");
  *request.mutable_failure() = failure;
  wsv1::RespondWorkflowTaskFailedResponse response;
  auto context = env.connection->NewContext(env.options.namespace_name);
  auto status = FromGrpcStatus(
      env.connection->workflow_service().RespondWorkflowTaskFailed(context.get(), request, &response),
      "RespondWorkflowTaskFailed");
  if (!status.ok()) FD_LOG(kWarning) << "RespondWorkflowTaskFailed: " << status.ToString();
}

// Updates are not supported yet: reject every update request so callers get
// a clear failure instead of waiting (protocol doc 5.12).
void RejectUpdates(const wsv1::PollWorkflowTaskQueueResponse& task,
                   wsv1::RespondWorkflowTaskCompletedRequest* request) {
  for (const auto& message : task.messages()) {
    ::temporal::api::update::v1::Request update;
    if (!message.body().UnpackTo(&update)) continue;
    ::temporal::api::update::v1::Rejection rejection;
    rejection.set_rejected_request_message_id(message.id());
    rejection.set_rejected_request_sequencing_event_id(message.event_id());
    *rejection.mutable_rejected_request() = update;
    Failure* failure = rejection.mutable_failure();
    failure->set_message("workflow update '" + update.input().name() +
                         "' rejected: the C++ SDK does not support updates yet");
    failure->set_source(kFailureSource);
    failure->mutable_application_failure_info()->set_type("UpdatesNotSupported");
    failure->mutable_application_failure_info()->set_non_retryable(true);
    auto* out = request->add_messages();
    out->set_id(message.id() + "/reject");
    out->set_protocol_instance_id(message.protocol_instance_id());
    out->mutable_body()->PackFrom(rejection);
  }
}

// Marks up to kMaxEagerActivitiesPerWorkflowTask activities for eager
// execution: scheduled on this worker's task queue, registered here, each
// with an activity slot reserved first. Returns the number reserved.
int RequestEagerActivities(const HandlerEnv& env, wsv1::RespondWorkflowTaskCompletedRequest* request) {
  if (!env.eager.enabled()) return 0;
  int reserved = 0;
  for (auto& command : *request->mutable_commands()) {
    if (reserved == kMaxEagerActivitiesPerWorkflowTask) break;
    if (command.command_type() != enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK) continue;
    auto* attrs = command.mutable_schedule_activity_task_command_attributes();
    if (attrs->task_queue().name() != env.options.task_queue ||
        env.activities->count(attrs->activity_type().name()) == 0) {
      continue;
    }
    if (!env.eager.try_reserve()) break;
    attrs->set_request_eager_execution(true);
    ++reserved;
  }
  return reserved;
}

// Runs the activity tasks the server returned for eager requests on the
// reserved slots and gives back the slots it did not use.
void DispatchEagerActivities(const HandlerEnv& env, int reserved, const std::string& type,
                             wsv1::RespondWorkflowTaskCompletedResponse* response) {
  if (reserved == 0) return;
  int used = 0;
  for (auto& activity : *response->mutable_activity_tasks()) {
    if (used == reserved) {
      // The server only answers requests; should it send more, the extra
      // attempt times out (start-to-close) and is retried through the queue.
      FD_LOG(kWarning) << "server returned more eager activity tasks than requested (" << reserved
                       << "); dropping activity " << activity.activity_id();
      continue;
    }
    env.eager.dispatch(std::move(activity));
    ++used;
  }
  if (used < reserved) env.eager.release(reserved - used);
  env.Metric("activity_eager_requested", reserved, type);
  env.Metric("activity_eager_received", used, type);
}

}  // namespace

void HandleWorkflowTask(const HandlerEnv& env, const wsv1::PollWorkflowTaskQueueResponse& task) {
  const auto begin = std::chrono::steady_clock::now();
  const std::string& type = task.workflow_type().name();
  auto events = FetchFullHistory(env, task);
  if (!events.ok()) {
    FailTask(env, task, enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
             events.status());
    return;
  }
  if (task.started_event_id() > 0 && !events->empty() &&
      events->back().event_id() > task.started_event_id()) {
    return;  // stale task: a newer one exists (5.2)
  }
  const workflow::WorkflowFunction* function = env.workflows->Find(type);
  if (function == nullptr) {
    auto error = arrow::Status::KeyError("workflow type '", type, "' is not registered on task queue ",
                                         env.options.task_queue, " (registered: ",
                                         env.workflows->Names(), ")");
    if (task.has_query()) {
      AnswerLegacyQuery(env, task, nullptr, error);
    } else {
      FailTask(env, task, enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE, error);
    }
    return;
  }
  workflow::WorkflowInfo info;
  info.namespace_name = env.options.namespace_name;
  info.workflow_id = task.workflow_execution().workflow_id();
  info.run_id = task.workflow_execution().run_id();
  info.workflow_type = type;
  info.task_queue = task.workflow_execution_task_queue().name();
  if (info.task_queue.empty()) info.task_queue = env.options.task_queue;
  WorkflowRun run(*function, info);
  const arrow::Status replayed = run.Replay(*events);

  if (task.has_query()) {
    AnswerLegacyQuery(env, task, &run, replayed);
    return;
  }
  if (!replayed.ok()) {
    FailTask(env, task,
             workflow::internal::IsNondeterminism(replayed)
                 ? enums::WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
                 : enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
             replayed);
    return;
  }
  wsv1::RespondWorkflowTaskCompletedRequest request;
  request.set_task_token(task.task_token());
  request.set_namespace_(env.options.namespace_name);
  request.set_identity(env.identity);
  for (auto& command : run.TakeCommands()) *request.add_commands() = std::move(command);
  for (const auto& [id, query] : task.queries()) {
    FillQueryResult(run, query, &(*request.mutable_query_results())[id]);
    env.Metric("workflow_task_query_answered", 1, type);
  }
  RejectUpdates(task, &request);
  request.mutable_sdk_metadata()->set_sdk_name(kSdkName);
  request.mutable_sdk_metadata()->set_sdk_version(kSdkVersion);
  const int eager_reserved = RequestEagerActivities(env, &request);
  wsv1::RespondWorkflowTaskCompletedResponse response;
  auto context = env.connection->NewContext(env.options.namespace_name);
  auto status = FromGrpcStatus(
      env.connection->workflow_service().RespondWorkflowTaskCompleted(context.get(), request, &response),
      "RespondWorkflowTaskCompleted");
  if (!status.ok()) response.clear_activity_tasks();
  DispatchEagerActivities(env, eager_reserved, type, &response);
  if (!status.ok()) {
    // INVALID_ARGUMENT (e.g. UNHANDLED_COMMAND) or NOT_FOUND: the server has
    // already scheduled what comes next; never retry a completion.
    FD_LOG(kInfo) << "workflow task completion of " << info.workflow_id
                  << " rejected: " << status.ToString();
  }
  env.Metric("workflow_task_completed", 1, type);
  env.Metric("workflow_task_latency_ms",
             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count(),
             type);
}

}  // namespace flightdeck::temporal::internal
