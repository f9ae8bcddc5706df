// flightdeck/temporal/worker/worker.h: polls one task queue for workflow and
// activity tasks and runs the registered workflows and activities.
//
//   ARROW_ASSIGN_OR_RAISE(auto worker, Worker::Make(conn, {.task_queue = "orders"}));
//   ARROW_RETURN_NOT_OK(worker->RegisterWorkflow("Checkout", &Checkout));
//   ARROW_RETURN_NOT_OK(worker->RegisterActivity("Charge",
//       [](ActivityContext& ctx, std::string card) -> arrow::Result<int> { ... }));
//   ARROW_RETURN_NOT_OK(worker->Start());
//   ...
//   ARROW_RETURN_NOT_OK(worker->Shutdown());   // finishes running tasks
//
// Sticky execution (protocol doc 4.5): live workflow runs stay in an LRU
// cache (WorkerOptions::max_cached_workflows) and later workflow tasks of a
// run come through this worker's own sticky task queue carrying only the new
// events, which are applied to the cached run. A cache miss (evicted run,
// gap in the events) fetches the full history and replays it; a run is
// evicted when it closes, continues as new or fails a task. A run pushed
// out of the full cache is reset with ResetStickyTaskQueue (in the
// background), so its next task goes to the normal queue. Each kind of task (workflow, activity) has a fixed number of slots
// (one handler thread each) and a smaller number of concurrent long polls
// that only run while a slot is free. Activities scheduled on the worker's
// own task queue are requested for eager execution when an activity slot is
// free: the server then returns them in the workflow task completion and
// they run here without a round trip through matching. Activities are plain callables `arrow::Result<R>(ActivityContext&,
// Args...)` or `arrow::Status(ActivityContext&, Args...)`, run on the
// worker's own threads; their errors become Temporal failures (see
// converter/failure.h: ApplicationError for a type and non-retryable flag,
// Cancelled after a cancellation request).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/common/trace_context.h"
#include "flightdeck/temporal/client/metrics_handler.h"
#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/worker/activity_context.h"
#include "flightdeck/temporal/workflow/internal/typed.h"
#include "flightdeck/temporal/workflow/workflow_registry.h"

namespace flightdeck::temporal {

class Connection;

/// One observation for the metrics hook.
struct WorkerMetric {
  /// workflow_task_completed, workflow_task_failed, workflow_task_latency_ms,
  /// activity_completed, activity_failed, activity_latency_ms, query_answered
  /// (a legacy query task), workflow_task_query_answered (a query attached to
  /// a workflow task, answered in its completion),
  /// activity_eager_requested (value = activities asked for in one
  /// completion), activity_eager_received (value = activity tasks the server
  /// returned in it), shutdown_worker (value 1 when the server acknowledged
  /// the ShutdownWorker call, 0 when it does not implement it or failed),
  /// workflow_cache_hit (a workflow task or legacy query served from the
  /// sticky cache), workflow_cache_miss (a task of a run past its first task
  /// replayed from full history), workflow_cache_evicted (a run pushed out
  /// of the full cache), sticky_queue_reset (after an eviction: value 1
  /// when the server acknowledged ResetStickyTaskQueue for the run, 0 when
  /// the call failed), workflow_task_from_completion (a workflow task the
  /// server returned in the response to the run's previous completion, so
  /// it needed no poll; asked for while the run stays cached).
  std::string name;
  double value = 1;
  /// Workflow or activity type.
  std::string type;
};

/// A type-erased activity: decoded input in, encoded result (or none) out.
using ActivityFunction =
    std::function<arrow::Result<std::optional<Payload>>(ActivityContext&, const Payloads&)>;

/// Wraps every activity this worker runs, as the official SDKs' activity
/// inbound interceptors do (execute_activity): it sees the context (type,
/// attempt, headers) and the input, and calls `next` to run the activity,
/// or answers without it.
using ActivityInterceptor = std::function<arrow::Result<std::optional<Payload>>(
    ActivityContext& ctx, const Payloads& input, const ActivityFunction& next)>;

struct WorkerOptions {
  std::string namespace_name = "default";
  /// Required.
  std::string task_queue;
  /// Empty = the connection's identity.
  std::string identity;
  /// Workflow task slots: workflow tasks handled at once, one thread each.
  int max_concurrent_workflow_tasks = 2;
  /// Concurrent PollWorkflowTaskQueue calls; 0 = min(slots, 5). A poll only
  /// runs while a workflow task slot is free, so at most the slot count poll.
  /// With sticky execution each poll picks its queue when it starts: one
  /// always waits on the normal and one on the sticky queue; the sticky
  /// queue gets the others while the server reports a backlog there, else
  /// its share of ceil(polls / 2) (tasks of runs under way go first).
  int max_concurrent_workflow_task_polls = 0;
  /// Activity slots: activities running at once, one thread each.
  int max_concurrent_activities = 4;
  /// Concurrent PollActivityTaskQueue calls; 0 = min(slots, 5). A poll only
  /// runs while an activity slot is free.
  int max_concurrent_activity_task_polls = 0;
  /// Eager activity execution (default on, as in the official SDKs): a
  /// ScheduleActivityTask command for an activity registered here, on this
  /// worker's task queue, asks the server to return the activity task in the
  /// RespondWorkflowTaskCompleted response when an activity slot is free
  /// (the slot is reserved first, at most max_eager_activities_per_workflow_task
  /// per workflow task, and released when the server returns fewer tasks).
  /// Servers without system.enableActivityEagerExecution ignore the request
  /// and the activity goes through the task queue as usual.
  bool eager_activities = true;
  /// Cap on the activities requested eagerly in one workflow task completion;
  /// 0 (default) = no cap other than the free activity slots. An eager
  /// activity skips the server's transfer queue, matching and the
  /// separate RecordActivityTaskStarted, which roughly halves the dev
  /// server's CPU per activity in a fan-out (bench/sdk.py). The official
  /// SDKs cap at 3 so that a fan-out spreads over several workers of the
  /// queue through matching; set 3 to get that. The response carrying the
  /// tasks is about as large as the request that scheduled them.
  int max_eager_activities_per_workflow_task = 0;
  /// Sticky cache size: live workflow runs kept between their workflow
  /// tasks, least recently used evicted first. 0 turns sticky execution
  /// off (every task replays full history). Sticky execution also needs
  /// max_concurrent_workflow_tasks >= 2 (one slot polls the sticky queue,
  /// one the normal queue); with a single slot it is off.
  int max_cached_workflows = 1000;
  /// schedule_to_start_timeout sent with sticky_attributes: a task left on
  /// the sticky queue that long (worker gone) moves to the normal queue.
  std::chrono::milliseconds sticky_schedule_to_start_timeout{std::chrono::seconds(5)};
  /// How long Shutdown() lets running activities finish before it marks them
  /// cancelled (and then still waits for them to return).
  std::chrono::milliseconds graceful_shutdown_timeout{std::chrono::seconds(10)};
  /// Called from worker threads (concurrently); must be thread-safe and quick.
  std::function<void(const WorkerMetric&)> metrics;
  /// Activity interceptors, outermost first; called concurrently.
  std::vector<ActivityInterceptor> activity_interceptors;
  /// Where the official SDK metrics of this worker go (metrics_handler.h:
  /// temporal_workflow_task_execution_latency, temporal_workflow_completed,
  /// temporal_activity_execution_latency, temporal_worker_task_slots_available,
  /// ... labelled namespace, task_queue, workflow_type, activity_type). The
  /// request metrics come from the Connection's own handler
  /// (ConnectionOptions::metrics). Null: none.
  std::shared_ptr<MetricsHandler> metrics_handler;
  /// Payload codecs, the same chain as the clients' (ClientOptions::codecs):
  /// every payload of the histories and activity tasks the worker receives
  /// is decoded before workflows and activities see it, and every payload
  /// of its commands, results, heartbeats, failures and query answers is
  /// encoded (headers and search attributes excepted, as in the official
  /// SDKs). A payload that does not decode fails the workflow task (it is
  /// retried) or the activity attempt, naming why.
  CodecChain codecs;
  /// Where this worker's spans go (an OTLP exporter, observe::Tracer). The
  /// trace context always travels, with or without one, in the header
  /// `_tracer-data` as the official SDKs' OpenTelemetry interceptors carry
  /// it: a run continues the context its start carried and hands it to the
  /// activities and children it starts; an activity runs with its header's
  /// context as the thread's current one (CurrentTraceContext(), which the
  /// Flight calls it makes pass on). With a sink, each run is a span
  /// "RunWorkflow:<type>" (its id derived from the run id, so every task,
  /// replay and worker names the same span; sent when the run closes) and
  /// each activity attempt a span "RunActivity:<type>" below it.
  std::shared_ptr<SpanSink> tracer;
};

namespace internal {

template <typename F, typename Ret, typename... Args>
ActivityFunction WrapActivity(F fn, std::tuple<ActivityContext&, Args...>*) {
  return [fn](ActivityContext& ctx, const Payloads& input) -> arrow::Result<std::optional<Payload>> {
    auto args = DecodeArgs<std::decay_t<Args>...>(input);
    if (!args.ok()) {
      return ApplicationError("InvalidArgument",
                              "activity " + ctx.info().activity_type +
                                  ": cannot decode input: " + args.status().message(),
                              /*non_retryable=*/true);
    }
    Ret result = std::apply([&](auto&... values) { return fn(ctx, values...); }, *args);
    if constexpr (std::is_same_v<Ret, arrow::Status>) {
      ARROW_RETURN_NOT_OK(result);
      return std::optional<Payload>();
    } else {
      ARROW_RETURN_NOT_OK(result.status());
      return EncodeResult(*result);
    }
  };
}

}  // namespace internal

/// Thread-safe after Start(): Shutdown() may be called from any thread.
/// Registration must happen before Start().
class Worker {
 public:
  /// Invalid when task_queue is empty, slot counts are not positive, poll
  /// counts, the eager cap, the cache size or the sticky timeout are negative.
  static arrow::Result<std::unique_ptr<Worker>> Make(std::shared_ptr<Connection> connection,
                                                     WorkerOptions options);
  /// Shutdown(), ignoring its status.
  ~Worker();

  const std::string& identity() const;
  workflow::WorkflowRegistry& workflows();

  /// Registers workflow `fn` as type `name` (see workflow_registry.h).
  template <typename R, typename... Args>
  arrow::Status RegisterWorkflow(const std::string& name,
                                 workflow::Task<R> (*fn)(workflow::WorkflowContext&, Args...)) {
    return workflows().Register(name, fn);
  }

  /// AlreadyExists for a taken name; Invalid after Start().
  arrow::Status RegisterActivityRaw(const std::string& name, ActivityFunction fn);

  /// Registers a callable `Result<R>(ActivityContext&, Args...)` or
  /// `Status(ActivityContext&, Args...)`; it may be called concurrently.
  template <typename F>
  arrow::Status RegisterActivity(const std::string& name, F fn) {
    using Traits = ::flightdeck::temporal::internal::CallableTraits<F>;
    return RegisterActivityRaw(
        name, internal::WrapActivity<F, typename Traits::Return>(
                  std::move(fn), static_cast<typename Traits::ArgsTuple*>(nullptr)));
  }

  /// Starts polling. Invalid when already started.
  arrow::Status Start();

  /// Stops polling, lets running and queued tasks finish (activities are
  /// marked cancelled after graceful_shutdown_timeout), joins the threads,
  /// then tells the server with ShutdownWorker, naming the sticky queue so
  /// its cached runs' tasks go to the normal queue (an UNIMPLEMENTED or failed
  /// call is only reported through the shutdown_worker metric). Idempotent;
  /// returns OK.
  arrow::Status Shutdown();

 private:
  struct Impl;
  explicit Worker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flightdeck::temporal
