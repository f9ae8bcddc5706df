// Processing of a workflow task: from the sticky cache or by replay from
// full history (protocol doc 4.5, 5.13).
#include <optional>

#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>

#include "flightdeck/common/logging.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/converter/trace_header.h"
#include "flightdeck/temporal/worker/internal/task_handlers.h"
#include "flightdeck/temporal/workflow/internal/workflow_run.h"
#include "temporal/api/update/v1/message.pb.h"

namespace flightdeck::temporal::internal {

namespace wsv1 = ::temporal::api::workflowservice::v1;
namespace enums = ::temporal::api::enums::v1;
using workflow::internal::WorkflowRun;

namespace {

// Appends the events of GetWorkflowExecutionHistory pages from `token` on
// (empty token = from the start).
arrow::Status FetchPages(const HandlerEnv& env, const wsv1::PollWorkflowTaskQueueResponse& task,
                         std::string token, HistoryEvents* events) {
  do {
    wsv1::GetWorkflowExecutionHistoryRequest request;
    request.set_namespace_(env.options.namespace_name);
    *request.mutable_execution() = task.workflow_execution();
    request.set_next_page_token(token);
    wsv1::GetWorkflowExecutionHistoryResponse response;
    auto context = env.connection->NewContext(env.options.namespace_name);
    ARROW_RETURN_NOT_OK(FromGrpcStatus(
        env.connection->workflow_service().GetWorkflowExecutionHistory(context.get(), request, &response),
        "GetWorkflowExecutionHistory"));
    for (const auto& event : response.history().events()) events->push_back(event);
    token = response.next_page_token();
  } while (!token.empty());
  return arrow::Status::OK();
}

// Decodes the payloads of `events` from `from` on with the worker's codecs,
// so the workflow sees them as the client that started it meant them.
arrow::Status DecodeEvents(const HandlerEnv& env, HistoryEvents* events, size_t from = 0) {
  for (size_t i = from; i < events->size(); ++i) {
    auto decoded = env.options.codecs.DecodeAll(&(*events)[i]);
    if (!decoded.ok()) {
      return decoded.WithMessage("cannot decode the payloads of history event ", (*events)[i].event_id(), ": ",
                                 decoded.message());
    }
  }
  return arrow::Status::OK();
}

arrow::Status CheckContiguous(const wsv1::PollWorkflowTaskQueueResponse& task, const HistoryEvents& events,
                              int64_t first_id) {
  for (size_t index = 0; index < events.size(); ++index) {
    if (events[index].event_id() != static_cast<int64_t>(index) + first_id) {
      return arrow::Status::IOError("history of ", task.workflow_execution().workflow_id(),
                                    " is not contiguous: expected event ",
                                    static_cast<int64_t>(index) + first_id, ", got ",
                                    events[index].event_id());
    }
  }
  return arrow::Status::OK();
}

// The task's events plus the rest of its pages (sticky tasks carry the
// events after previous_started_event_id).
arrow::Result<HistoryEvents> FetchTaskHistory(const HandlerEnv& env,
                                              const wsv1::PollWorkflowTaskQueueResponse& task) {
  HistoryEvents events(task.history().events().begin(), task.history().events().end());
  if (!task.next_page_token().empty()) {
    ARROW_RETURN_NOT_OK(FetchPages(env, task, task.next_page_token(), &events));
  }
  ARROW_RETURN_NOT_OK(CheckContiguous(task, events, events.empty() ? 1 : events.front().event_id()));
  ARROW_RETURN_NOT_OK(DecodeEvents(env, &events));
  return events;
}

}  // namespace

arrow::Result<HistoryEvents> FetchFullHistory(const HandlerEnv& env,
                                              const wsv1::PollWorkflowTaskQueueResponse& task) {
  ARROW_ASSIGN_OR_RAISE(auto events, FetchTaskHistory(env, task));
  if (!events.empty() && events.front().event_id() != 1) {
    return arrow::Status::IOError("history of ", task.workflow_execution().workflow_id(),
                                  " starts at event ", events.front().event_id(), ", not 1");
  }
  return events;
}

arrow::Result<HistoryEvents> FetchHistoryFromStart(const HandlerEnv& env,
                                                   const wsv1::PollWorkflowTaskQueueResponse& task) {
  HistoryEvents events;
  ARROW_RETURN_NOT_OK(FetchPages(env, task, "", &events));
  const int64_t last = events.empty() ? 0 : events.back().event_id();
  for (const auto& event : task.history().events()) {
    if (event.event_id() > last) events.push_back(event);
  }
  ARROW_RETURN_NOT_OK(CheckContiguous(task, events, 1));
  ARROW_RETURN_NOT_OK(DecodeEvents(env, &events));
  return events;
}

namespace {

// Answers `query` from `run`; its arguments and answer go through the
// worker's codecs.
void FillQueryResult(const HandlerEnv& env, WorkflowRun& run, const ::temporal::api::query::v1::WorkflowQuery& query,
                     ::temporal::api::query::v1::WorkflowQueryResult* out) {
  Payloads args = query.query_args();
  const arrow::Status decoded = env.options.codecs.Decode(&args);
  arrow::Result<Payload> answer = decoded.ok() ? run.Query(query.query_type(), args) : arrow::Result<Payload>(decoded);
  if (answer.ok()) {
    *out->mutable_answer()->add_payloads() = std::move(*answer);
    if (auto encoded = env.options.codecs.Encode(out->mutable_answer()); !encoded.ok()) {
      out->clear_answer();
      answer = encoded;
    }
  }
  if (answer.ok()) {
    out->set_result_type(enums::QUERY_RESULT_TYPE_ANSWERED);
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
    FillQueryResult(env, *run, task.query(), &result);
  } else {
    result.set_result_type(enums::QUERY_RESULT_TYPE_FAILED);
    result.set_error_message("replay failed: " + replayed.message());
  }
  request.set_completed_type(result.result_type());
  *request.mutable_query_result() = result.answer();
  request.set_error_message(result.error_message());
  if (result.has_failure()) *request.mutable_failure() = result.failure();
  // Reported before the answer is sent: the caller may act on the answer
  // before RespondQueryTaskCompleted returns here.
  env.Metric("query_answered", 1, task.workflow_type().name());
  wsv1::RespondQueryTaskCompletedResponse response;
  auto context = env.connection->NewContext(env.options.namespace_name);
  auto status = FromGrpcStatus(
      env.connection->workflow_service().RespondQueryTaskCompleted(context.get(), request, &response),
      "RespondQueryTaskCompleted");
  if (!status.ok()) FD_LOG(kWarning) << "answering query failed: " << status.ToString();
}

void FailTask(const HandlerEnv& env, const wsv1::PollWorkflowTaskQueueResponse& task,
              enums::WorkflowTaskFailedCause cause, const arrow::Status& error) {
  FD_LOG(kWarning) << "workflow task of " << task.workflow_execution().workflow_id() << " (attempt "
                   << task.attempt() << ") failed: " << error.ToString();
  env.Metric("workflow_task_failed", 1, task.workflow_type().name());
  env.Count("temporal_workflow_task_execution_failed",
            env.Labels({{"workflow_type", task.workflow_type().name()},
                        {"failure_reason", cause == enums::WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
                                               ? "NonDeterminismError"
                                               : "WorkflowError"}}));
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

// Marks activities for eager execution (up to
// WorkerOptions::max_eager_activities_per_workflow_task, 0 = no cap):
// scheduled on this worker's task queue, registered here, each with an
// activity slot reserved first. Returns the number reserved.
int RequestEagerActivities(const HandlerEnv& env, wsv1::RespondWorkflowTaskCompletedRequest* request) {
  if (!env.eager.enabled()) return 0;
  const int cap = env.options.max_eager_activities_per_workflow_task;
  int reserved = 0;
  for (auto& command : *request->mutable_commands()) {
    if (cap > 0 && reserved == cap) break;
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

namespace {

// temporal_workflow_completed, _failed, _canceled or _continue_as_new when
// the completion closes the run.
void CountClosedRun(const HandlerEnv& env, const wsv1::RespondWorkflowTaskCompletedRequest& request,
                    const MetricLabels& labels) {
  for (const auto& command : request.commands()) {
    switch (command.command_type()) {
      case enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION: env.Count("temporal_workflow_completed", labels); break;
      case enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION: env.Count("temporal_workflow_failed", labels); break;
      case enums::COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION: env.Count("temporal_workflow_canceled", labels); break;
      case enums::COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION:
        env.Count("temporal_workflow_continue_as_new", labels);
        break;
      default: break;
    }
  }
}

// The trace context of the run (WorkerOptions::tracer): its span
// continues the context its start carried, or roots a trace derived from
// the run id; either way every task, replay and worker computes the same.
// Invalid when there is nothing to carry (no context and no tracer).
TraceContext RunTraceContext(const HandlerEnv& env, const WorkflowRun& run,
                             const std::optional<TraceContext>& parent) {
  if (!env.options.tracer) return parent.value_or(TraceContext{});
  TraceContext context;
  context.trace_id = parent ? parent->trace_id : TraceIdFrom("trace:" + run.info().run_id);
  context.span_id = SpanIdFrom("RunWorkflow:" + run.info().run_id);
  context.tracestate = parent ? parent->tracestate : "";
  context.sampled = env.options.tracer->ShouldSample(parent ? &*parent : nullptr, context.trace_id);
  return context;
}

// Puts the run's trace context into the header of every command that
// starts work elsewhere, and returns the run's span when this completion
// closes the run and the span is sampled.
std::optional<Span> TraceCommands(const HandlerEnv& env, const WorkflowRun& run,
                                  wsv1::RespondWorkflowTaskCompletedRequest* request) {
  const std::optional<TraceContext> parent = TraceContextFromHeader(run.started_header().fields());
  const TraceContext context = RunTraceContext(env, run, parent);
  if (!context.valid()) return std::nullopt;
  std::optional<Span> closed;
  for (auto& command : *request->mutable_commands()) {
    ::temporal::api::common::v1::Header* header = nullptr;
    switch (command.command_type()) {
      case enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK:
        header = command.mutable_schedule_activity_task_command_attributes()->mutable_header();
        break;
      case enums::COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION:
        header = command.mutable_start_child_workflow_execution_command_attributes()->mutable_header();
        break;
      case enums::COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION:
        header = command.mutable_continue_as_new_workflow_execution_command_attributes()->mutable_header();
        [[fallthrough]];
      case enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION:
      case enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION:
      case enums::COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION:
        if (env.options.tracer && context.sampled) {
          closed.emplace();
          closed->name = "RunWorkflow:" + run.info().workflow_type;
          closed->kind = SpanKind::kServer;
          closed->context = context;
          closed->parent_span_id = parent ? parent->span_id : "";
          closed->start = run.start_time();
          closed->end = std::chrono::system_clock::now();
          closed->error = command.command_type() == enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION;
          if (closed->error) {
            closed->status_message = command.fail_workflow_execution_command_attributes().failure().message();
          }
          closed->attributes = {{"temporalWorkflowID", run.info().workflow_id},
                                {"temporalRunID", run.info().run_id}};
        }
        break;
      default: break;
    }
    if (header != nullptr && !header->fields().contains(kTracerHeader)) {
      (*header->mutable_fields())[kTracerHeader] = TraceHeaderPayload(context);
    }
  }
  return closed;
}

bool IsPartial(const wsv1::PollWorkflowTaskQueueResponse& task) {
  return task.history().events().empty() || task.history().events(0).event_id() != 1;
}

// True when the sticky task's events continue the cached run exactly: they
// start right after the run's last WorkflowTaskStarted, with the
// WorkflowTaskCompleted of the commands the run sent.
bool ContinuesCached(const wsv1::PollWorkflowTaskQueueResponse& task, const CachedWorkflow& entry) {
  const auto& events = task.history().events();
  return !events.empty() && task.previous_started_event_id() == entry.last_event_id &&
         events[0].event_id() == entry.last_event_id + 1 &&
         events[0].event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED;
}

std::unique_ptr<WorkflowRun> NewRun(const HandlerEnv& env, const wsv1::PollWorkflowTaskQueueResponse& task,
                                    const workflow::WorkflowFunction& function) {
  workflow::WorkflowInfo info;
  info.namespace_name = env.options.namespace_name;
  info.workflow_id = task.workflow_execution().workflow_id();
  info.run_id = task.workflow_execution().run_id();
  info.workflow_type = task.workflow_type().name();
  info.task_queue = task.workflow_execution_task_queue().name();
  if (info.task_queue.empty()) info.task_queue = env.options.task_queue;
  auto run = std::make_unique<WorkflowRun>(function, std::move(info));
  run->set_metrics(env.options.metrics_handler);
  return run;
}

// A fresh run replayed from full history (paged; from the start for a
// partial task). Sets `*replayed` to the replay status; an error result
// means the history or the workflow type was not available; null means the
// task is stale (its history goes past started_event_id: a newer task
// exists, 5.2) and must be abandoned without an answer.
arrow::Result<std::unique_ptr<WorkflowRun>> ReplayFromStart(const HandlerEnv& env,
                                                            const wsv1::PollWorkflowTaskQueueResponse& task,
                                                            HistoryEvents* events, arrow::Status* replayed) {
  ARROW_ASSIGN_OR_RAISE(*events, IsPartial(task) ? FetchHistoryFromStart(env, task)
                                                 : FetchFullHistory(env, task));
  if (task.started_event_id() > 0 && !events->empty() &&
      events->back().event_id() > task.started_event_id()) {
    return nullptr;
  }
  const std::string& type = task.workflow_type().name();
  const workflow::WorkflowFunction* function = env.workflows->Find(type);
  if (function == nullptr) {
    return arrow::Status::KeyError("workflow type '", type, "' is not registered on task queue ",
                                   env.options.task_queue, " (registered: ", env.workflows->Names(), ")");
  }
  auto run = NewRun(env, task, *function);
  *replayed = run->Replay(*events);
  return run;
}

// A legacy query task: answered from the cached run when the task has no
// events of its own (sticky), else from a replay that is not cached. The
// checked-out entry goes back untouched either way.
void HandleLegacyQuery(const HandlerEnv& env, const wsv1::PollWorkflowTaskQueueResponse& task,
                       CheckedOut& checked_out) {
  if (checked_out.entry != nullptr && task.history().events().empty()) {
    env.Metric("workflow_cache_hit", 1, task.workflow_type().name());
    AnswerLegacyQuery(env, task, checked_out.entry->run.get(), arrow::Status::OK());
    checked_out.PutBack();
    return;
  }
  checked_out.PutBack();
  HistoryEvents events;
  arrow::Status replayed;
  auto run = ReplayFromStart(env, task, &events, &replayed);
  if (!run.ok()) {
    AnswerLegacyQuery(env, task, nullptr, run.status());
    return;
  }
  if (*run == nullptr) return;  // not expected for queries (started_event_id 0)
  AnswerLegacyQuery(env, task, run->get(), replayed);
}

}  // namespace

namespace {

// One workflow task; returns the next task of the run when the server
// handed it back in the completion's response (return_new_workflow_task).
std::optional<wsv1::PollWorkflowTaskQueueResponse> HandleOneWorkflowTask(
    const HandlerEnv& env, const wsv1::PollWorkflowTaskQueueResponse& task) {
  const auto begin = std::chrono::steady_clock::now();
  const std::string& type = task.workflow_type().name();
  const std::string& run_id = task.workflow_execution().run_id();
  const ScopedLogContext log_context(
      {.workflow_id = task.workflow_execution().workflow_id(), .run_id = run_id, .workflow_type = type});
  // Checked out: no other slot drives this run while the task is handled
  // (a task for it waits until it is given back).
  CheckedOut checked_out(env.cache, run_id);
  if (task.has_query()) {
    HandleLegacyQuery(env, task, checked_out);
    return std::nullopt;
  }
  std::unique_ptr<CachedWorkflow>& entry = checked_out.entry;

  HistoryEvents events;
  arrow::Status replayed;
  if (entry != nullptr && IsPartial(task) && ContinuesCached(task, *entry)) {
    env.Metric("workflow_cache_hit", 1, type);
    env.Count("temporal_sticky_cache_hit", env.Labels({{"workflow_type", type}}));
    auto fetched = FetchTaskHistory(env, task);
    if (!fetched.ok()) {
      FailTask(env, task, enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
               fetched.status());
      return std::nullopt;  // the entry is evicted (dropped)
    }
    events = std::move(*fetched);
    if (!events.empty() && events.back().event_id() > task.started_event_id()) return std::nullopt;  // stale (5.2)
    replayed = entry->run->Replay(events);
  } else {
    if (task.previous_started_event_id() > 0) {
      env.Metric("workflow_cache_miss", 1, type);
      env.Count("temporal_sticky_cache_miss", env.Labels({{"workflow_type", type}}));
    }
    entry.reset();  // a full replay replaces whatever was cached
    auto run = ReplayFromStart(env, task, &events, &replayed);
    if (!run.ok()) {
      FailTask(env, task, enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE, run.status());
      return std::nullopt;
    }
    if (*run == nullptr) return std::nullopt;  // stale
    entry = std::make_unique<CachedWorkflow>();
    entry->run = std::move(*run);
  }
  WorkflowRun& run = *entry->run;
  if (!replayed.ok()) {
    // Nondeterminism or a workflow bug: the run is dropped from the cache,
    // so the retried task replays from full history.
    FailTask(env, task,
             workflow::internal::IsNondeterminism(replayed)
                 ? enums::WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
                 : enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
             replayed);
    return std::nullopt;
  }
  wsv1::RespondWorkflowTaskCompletedRequest request;
  request.set_task_token(task.task_token());
  request.set_namespace_(env.options.namespace_name);
  request.set_identity(env.identity);
  for (auto& command : run.Commands()) *request.add_commands() = std::move(command);
  std::optional<Span> run_span = TraceCommands(env, run, &request);
  if (auto encoded = env.options.codecs.EncodeAll(&request); !encoded.ok()) {
    FailTask(env, task, enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
             encoded.WithMessage("cannot encode the payloads of the workflow's commands: ", encoded.message()));
    return std::nullopt;  // the entry is evicted (dropped)
  }
  for (const auto& [id, query] : task.queries()) {
    FillQueryResult(env, run, query, &(*request.mutable_query_results())[id]);
    env.Metric("workflow_task_query_answered", 1, type);
  }
  RejectUpdates(task, &request);
  request.mutable_sdk_metadata()->set_sdk_name(kSdkName);
  request.mutable_sdk_metadata()->set_sdk_version(kSdkVersion);
  const bool cache_it = env.cache != nullptr && env.cache->capacity() > 0 && !run.finished();
  if (cache_it) {
    auto* sticky = request.mutable_sticky_attributes();
    sticky->mutable_worker_task_queue()->set_name(env.sticky_queue);
    sticky->mutable_worker_task_queue()->set_kind(enums::TASK_QUEUE_KIND_STICKY);
    sticky->mutable_worker_task_queue()->set_normal_name(env.options.task_queue);
    *sticky->mutable_schedule_to_start_timeout() =
        google::protobuf::util::TimeUtil::MillisecondsToDuration(
            env.options.sticky_schedule_to_start_timeout.count());
    // A workflow task that the completion creates (events that came in
    // meanwhile) comes back in the response, partial like a sticky task,
    // instead of through the sticky queue: no poll and no matching for it.
    request.set_return_new_workflow_task(true);
    // Cached before the completion is sent: the next sticky task may arrive
    // on another slot as soon as the server has it. A rejected completion
    // erases the entry again; should a task see it first, its events start
    // with WorkflowTaskFailed, not WorkflowTaskCompleted, and it replays.
    entry->last_event_id = events.empty() ? entry->last_event_id : events.back().event_id();
    checked_out.PutBack();
  } else {
    entry.reset();  // completed, failed, continued as new, or no cache: evict
  }
  const int eager_reserved = RequestEagerActivities(env, &request);
  wsv1::RespondWorkflowTaskCompletedResponse response;
  auto context = env.connection->NewContext(env.options.namespace_name);
  auto status = FromGrpcStatus(
      env.connection->workflow_service().RespondWorkflowTaskCompleted(context.get(), request, &response),
      "RespondWorkflowTaskCompleted");
  if (!status.ok()) response.clear_activity_tasks();
  DispatchEagerActivities(env, eager_reserved, type, &response);
  if (!status.ok()) {
    if (cache_it) env.cache->Erase(run_id);
    // INVALID_ARGUMENT (e.g. UNHANDLED_COMMAND) or NOT_FOUND: the server has
    // already scheduled what comes next; never retry a completion.
    FD_LOG(kInfo) << "workflow task completion of " << task.workflow_execution().workflow_id()
                  << " rejected: " << status.ToString();
  }
  env.Metric("workflow_task_completed", 1, type);
  const MetricLabels labels = env.Labels({{"workflow_type", type}});
  const double elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
  env.Latency("temporal_workflow_task_execution_latency", labels, elapsed_ms);
  if (status.ok()) CountClosedRun(env, request, labels);
  if (status.ok() && run_span) env.options.tracer->Export(std::move(*run_span));
  env.Metric("workflow_task_latency_ms", elapsed_ms, type);
  if (!status.ok() || !cache_it || response.workflow_task().task_token().empty()) return std::nullopt;
  return std::move(*response.mutable_workflow_task());
}

}  // namespace

void HandleWorkflowTask(const HandlerEnv& env, const wsv1::PollWorkflowTaskQueueResponse& task) {
  auto next = HandleOneWorkflowTask(env, task);
  while (next.has_value()) {
    env.Metric("workflow_task_from_completion", 1, next->workflow_type().name());
    const auto current = std::move(*next);
    next = HandleOneWorkflowTask(env, current);
  }
}

}  // namespace flightdeck::temporal::internal
