// Running one activity attempt and reporting its outcome (protocol doc 4.4).
#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>

#include "flightdeck/common/logging.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/converter/trace_header.h"
#include "flightdeck/temporal/worker/internal/task_handlers.h"

namespace flightdeck::temporal::internal {

namespace wsv1 = ::temporal::api::workflowservice::v1;
using google::protobuf::util::TimeUtil;

namespace {

arrow::Result<std::optional<Payload>> Invoke(const ActivityFunction& fn, ActivityContext& ctx,
                                             const Payloads& input) {
  try {
    return fn(ctx, input);
  } catch (const std::exception& e) {
    return ApplicationError("std::exception", std::string("activity threw: ") + e.what());
  } catch (...) {
    return ApplicationError("unknown", "activity threw a non-standard exception");
  }
}

template <typename Request, typename Response, typename Rpc>
void Respond(const HandlerEnv& env, const char* name, Request& request, Rpc rpc) {
  request.set_namespace_(env.options.namespace_name);
  request.set_identity(env.identity);
  Response response;
  auto context = env.connection->NewContext(env.options.namespace_name);
  auto status = FromGrpcStatus((env.connection->workflow_service().*rpc)(context.get(), request, &response),
                               name);
  // NOT_FOUND: the attempt is gone (timed out, cancelled, workflow closed);
  // the result is dropped quietly (pitfall 15).
  if (!status.ok() && GrpcCodeOf(status) != grpc::StatusCode::NOT_FOUND) {
    FD_LOG(kWarning) << name << " failed: " << status.ToString();
  }
}

// Encodes every payload of a cancellation or failure report; when a payload
// does not encode, the report goes without payloads rather than in clear.
template <typename Request, typename Clear>
void EncodeOrDrop(const CodecChain& codecs, Request* request, Clear clear) {
  if (auto encoded = codecs.EncodeAll(request); !encoded.ok()) {
    FD_LOG(kWarning) << "payloads of an activity report dropped: " << encoded.ToString();
    clear();
  }
}

}  // namespace

void HandleActivityTask(const HandlerEnv& env, const wsv1::PollActivityTaskQueueResponse& polled,
                        const std::function<void(ActivityContext*, bool)>& register_running) {
  const auto begin = std::chrono::steady_clock::now();
  const CodecChain& codecs = env.options.codecs;
  // The input and heartbeat details as the activity sees them: decoded.
  wsv1::PollActivityTaskQueueResponse task = polled;
  arrow::Status decoded = codecs.Decode(task.mutable_input());
  if (decoded.ok()) decoded = codecs.Decode(task.mutable_heartbeat_details());
  ActivityInfo info;
  info.namespace_name = env.options.namespace_name;
  info.activity_id = task.activity_id();
  info.activity_type = task.activity_type().name();
  info.workflow_id = task.workflow_execution().workflow_id();
  info.run_id = task.workflow_execution().run_id();
  info.workflow_type = task.workflow_type().name();
  info.task_queue = env.options.task_queue;
  info.attempt = task.attempt();
  info.heartbeat_details = task.heartbeat_details();
  info.heartbeat_timeout =
      std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(task.heartbeat_timeout()));
  info.start_to_close_timeout =
      std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(task.start_to_close_timeout()));
  ActivityContext ctx(env.connection, env.identity, task.task_token(), info, codecs);
  const ScopedLogContext log_context({.workflow_id = info.workflow_id,
                                      .run_id = info.run_id,
                                      .workflow_type = info.workflow_type,
                                      .activity_type = info.activity_type,
                                      .activity_id = info.activity_id});
  // The attempt runs with its trace context current (WorkerOptions::tracer).
  const std::optional<TraceContext> parent = TraceContextFromHeader(task.header().fields());
  const TraceContext trace =
      env.options.tracer ? StartSpanContext(*env.options.tracer, parent) : parent.value_or(TraceContext{});
  std::optional<ScopedTraceContext> trace_scope;
  if (trace.valid()) trace_scope.emplace(trace);
  const auto started_at = std::chrono::system_clock::now();
  FD_LOG(kDebug) << "activity " << info.activity_type << " attempt " << info.attempt << " started";
  const MetricLabels labels =
      env.Labels({{"workflow_type", info.workflow_type}, {"activity_type", info.activity_type}});
  env.Count("temporal_activity_task_received", labels);

  arrow::Result<std::optional<Payload>> result;
  auto it = env.activities->find(info.activity_type);
  if (!decoded.ok()) {
    result = ApplicationError("PayloadCodecError", "activity " + info.activity_type +
                                                       ": cannot decode its input: " + decoded.message());
  } else if (it == env.activities->end()) {
    std::string known;
    for (const auto& [name, fn] : *env.activities) known += (known.empty() ? "" : ", ") + name;
    result = ApplicationError("ActivityNotRegistered",
                              "activity type '" + info.activity_type + "' is not registered on task queue " +
                                  env.options.task_queue + " (registered: " + known + ")");
  } else {
    register_running(&ctx, true);
    // The interceptors wrap the activity, the first outermost.
    ActivityFunction run = it->second;
    const auto& interceptors = env.options.activity_interceptors;
    for (auto at = interceptors.rbegin(); at != interceptors.rend(); ++at) {
      run = [interceptor = *at, next = std::move(run)](ActivityContext& c, const Payloads& in) {
        return interceptor(c, in, next);
      };
    }
    result = Invoke(run, ctx, task.input());
    register_running(&ctx, false);
  }

  wsv1::RespondActivityTaskCompletedRequest completed;
  if (result.ok()) {
    completed.set_task_token(task.task_token());
    if (result->has_value()) *completed.mutable_result()->add_payloads() = std::move(**result);
    if (auto encoded = codecs.EncodeAll(&completed); !encoded.ok()) {
      result = ApplicationError("PayloadCodecError", "activity " + info.activity_type +
                                                         ": cannot encode its result: " + encoded.message());
    }
  }
  if (result.ok()) {
    auto& request = completed;
    Respond<wsv1::RespondActivityTaskCompletedRequest, wsv1::RespondActivityTaskCompletedResponse>(
        env, "RespondActivityTaskCompleted", request,
        &wsv1::WorkflowService::Stub::RespondActivityTaskCompleted);
    env.Metric("activity_completed", 1, info.activity_type);
  } else if (result.status().IsCancelled() && ctx.IsCancelled()) {
    wsv1::RespondActivityTaskCanceledRequest request;
    request.set_task_token(task.task_token());
    *request.mutable_details() = ctx.PendingDetails();
    EncodeOrDrop(codecs, &request, [&] { request.clear_details(); });
    Respond<wsv1::RespondActivityTaskCanceledRequest, wsv1::RespondActivityTaskCanceledResponse>(
        env, "RespondActivityTaskCanceled", request,
        &wsv1::WorkflowService::Stub::RespondActivityTaskCanceled);
    env.Metric("activity_failed", 1, info.activity_type);
  } else {
    wsv1::RespondActivityTaskFailedRequest request;
    request.set_task_token(task.task_token());
    *request.mutable_failure() = StatusToFailure(result.status());
    Payloads pending = ctx.PendingDetails();
    if (pending.payloads_size() > 0) *request.mutable_last_heartbeat_details() = std::move(pending);
    EncodeOrDrop(codecs, &request, [&] {
      request.clear_last_heartbeat_details();
      *request.mutable_failure() = StatusToFailure(result.status());  // without details
    });
    Respond<wsv1::RespondActivityTaskFailedRequest, wsv1::RespondActivityTaskFailedResponse>(
        env, "RespondActivityTaskFailed", request, &wsv1::WorkflowService::Stub::RespondActivityTaskFailed);
    env.Metric("activity_failed", 1, info.activity_type);
    env.Count("temporal_activity_execution_failed", labels);
  }
  const double elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
  env.Latency("temporal_activity_execution_latency", labels, elapsed_ms);
  FD_LOG(kDebug) << "activity " << info.activity_type << " attempt " << info.attempt << " "
                 << (result.ok() ? "completed" : "failed: " + result.status().message()) << " in " << elapsed_ms
                 << " ms";
  env.Metric("activity_latency_ms", elapsed_ms, info.activity_type);
  if (env.options.tracer && trace.sampled) {
    Span span{.name = "RunActivity:" + info.activity_type,
              .kind = SpanKind::kServer,
              .context = trace,
              .parent_span_id = parent ? parent->span_id : "",
              .start = started_at,
              .end = std::chrono::system_clock::now(),
              .error = !result.ok(),
              .status_message = result.ok() ? "" : result.status().message(),
              .attributes = {{"temporalWorkflowID", info.workflow_id},
                             {"temporalRunID", info.run_id},
                             {"temporalActivityID", info.activity_id},
                             {"temporalActivityAttempt", static_cast<int64_t>(info.attempt)}}};
    env.options.tracer->Export(std::move(span));
  }
}

}  // namespace flightdeck::temporal::internal
