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
// Workflow tasks are replayed from full history every time (no sticky
// cache). Activities are plain callables `arrow::Result<R>(ActivityContext&,
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

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/worker/activity_context.h"
#include "flightdeck/temporal/workflow/internal/typed.h"
#include "flightdeck/temporal/workflow/workflow_registry.h"

namespace flightdeck::temporal {

class Connection;

/// One observation for the metrics hook.
struct WorkerMetric {
  /// workflow_task_completed, workflow_task_failed, workflow_task_latency_ms,
  /// activity_completed, activity_failed, activity_latency_ms, query_answered.
  std::string name;
  double value = 1;
  /// Workflow or activity type.
  std::string type;
};

struct WorkerOptions {
  std::string namespace_name = "default";
  /// Required.
  std::string task_queue;
  /// Empty = the connection's identity.
  std::string identity;
  /// Workflow task slots = concurrent workflow task polls.
  int max_concurrent_workflow_tasks = 2;
  /// Activity slots = threads running activities; a slot polls only when free.
  int max_concurrent_activities = 4;
  /// How long Shutdown() lets running activities finish before it marks them
  /// cancelled (and then still waits for them to return).
  std::chrono::milliseconds graceful_shutdown_timeout{std::chrono::seconds(10)};
  /// Called from worker threads (concurrently); must be thread-safe and quick.
  std::function<void(const WorkerMetric&)> metrics;
};

/// A type-erased activity: decoded input in, encoded result (or none) out.
using ActivityFunction =
    std::function<arrow::Result<std::optional<Payload>>(ActivityContext&, const Payloads&)>;

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
  /// Invalid when task_queue is empty or slot counts are not positive.
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

  /// Stops polling, lets running tasks finish (activities are marked
  /// cancelled after graceful_shutdown_timeout), joins the threads.
  /// Idempotent.
  arrow::Status Shutdown();

 private:
  struct Impl;
  explicit Worker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flightdeck::temporal
