// flightdeck/temporal/workflow/workflow_context.h: everything workflow code
// may use to talk to the world.
//
// Workflow code is replayed from history on every workflow task, so it must
// be deterministic: take time, randomness, timers, activities, children and
// signals only from this context, never from clocks, threads, files or the
// network. Everything here runs on the run's single thread.
//
//   Task<std::string> Greet(WorkflowContext& ctx, std::string name) {
//     ActivityOptions opts{.start_to_close_timeout = std::chrono::seconds(10)};
//     FLIGHTDECK_CO_ASSIGN_OR_RAISE(auto text,
//         co_await ctx.ExecuteActivity<std::string>("Compose", opts, name));
//     FLIGHTDECK_CO_RETURN_NOT_OK(co_await ctx.Sleep(std::chrono::seconds(1)));
//     co_return text;
//   }
//
// Lifetime: the context lives as long as the run; workflow coroutines may
// keep a reference to it.
//
// GCC 12: a temporary option struct inside a co_await expression, as in
// `co_await ctx.ExecuteActivity<int>("A", ActivityOptions{}, x)`, is
// miscompiled (its destructor runs on a bad address). Bind option structs to
// named objects first (`const ActivityOptions options = ...;`); temporaries
// of strings and numbers are fine.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/common/logging.h"
#include "flightdeck/temporal/client/metrics_handler.h"
#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/converter/payload_converter.h"
#include "flightdeck/temporal/workflow/future.h"
#include "flightdeck/temporal/workflow/options.h"

namespace flightdeck::temporal::workflow {

namespace internal {
class WorkflowRun;

/// Decodes the first payload of a raw result into T once it resolves.
template <typename T>
Task<T> DecodeFuture(Future<Payloads> raw) {
  arrow::Result<Payloads> payloads = co_await raw;
  if (!payloads.ok()) co_return payloads.status();
  if constexpr (std::is_void_v<T>) {
    co_return arrow::Status::OK();
  } else {
    co_return FromPayloads<T>(*payloads, 0);
  }
}

}  // namespace internal

/// Cancels one activity, timer or child started by the workflow. Cheap to
/// copy; Cancel() after the operation finished does nothing.
class CancelHandle {
 public:
  enum class Kind { kActivity, kTimer, kChild };
  CancelHandle() = default;
  CancelHandle(internal::WorkflowRun* run, Kind kind, int64_t seq) : run_(run), kind_(kind), seq_(seq) {}
  /// Activities: according to their ActivityCancellationType. Timers: the
  /// timer resolves as Cancelled. Children: cancellation is requested, the
  /// child decides. A command not yet sent to the server is simply dropped.
  void Cancel() const;

 private:
  internal::WorkflowRun* run_ = nullptr;
  Kind kind_ = Kind::kActivity;
  int64_t seq_ = 0;
};

/// A started operation: its result plus a way to cancel it.
template <typename T>
struct Started {
  Future<T> result;
  CancelHandle handle;
};

class WorkflowContext {
 public:
  /// Made by the runtime; workflow code receives a reference.
  explicit WorkflowContext(internal::WorkflowRun* run) : run_(run) {}
  WorkflowContext(const WorkflowContext&) = delete;
  WorkflowContext& operator=(const WorkflowContext&) = delete;

  const WorkflowInfo& info() const;

  /// Workflow time: the start time of the current workflow task, identical
  /// on replay.
  std::chrono::system_clock::time_point Now() const;
  /// A deterministic pseudo-random number (seeded from the original run id).
  uint64_t Random();
  /// True while re-executing history already recorded; use to skip side
  /// channels such as metrics. Logging through Log() handles it already.
  bool IsReplaying() const;
  /// Replay-safe log line: dropped while replaying. Adds workflow id and run
  /// id as fields.
  void Log(LogLevel level, std::string_view message) const;
  /// Replay-safe counter through the worker's metrics handler
  /// (WorkerOptions::metrics_handler), as the official SDKs' workflow metric
  /// meters: dropped while replaying; labelled `namespace`, `task_queue` and
  /// `workflow_type` besides `labels`.
  void CountMetric(std::string_view name, MetricLabels labels = {}, double value = 1) const;

  // --- Activities -------------------------------------------------------

  /// Schedules activity `type` with raw arguments. The result resolves with
  /// the activity's result payloads, or with the failure as a Status (see
  /// FailureToStatus: ApplicationErrorType(), IsTimeout(), IsCancelled()).
  /// Invalid options (no timeout) resolve with Invalid at once.
  Started<Payloads> StartActivityRaw(std::string type, const ActivityOptions& options, Payloads args);

  /// Typed form: arguments encoded with the payload converter, result
  /// decoded as R (void: only success or failure).
  template <typename R, typename... Args>
  Started<R> StartActivity(std::string type, const ActivityOptions& options, const Args&... args) {
    auto payloads = ToPayloads(args...);
    if (!payloads.ok()) return {Future<R>::Ready(payloads.status()), {}};
    auto started = StartActivityRaw(std::move(type), options, std::move(*payloads));
    return {internal::DecodeFuture<R>(std::move(started.result)), started.handle};
  }

  /// StartActivity without the cancel handle.
  template <typename R, typename... Args>
  Future<R> ExecuteActivity(std::string type, const ActivityOptions& options, const Args&... args) {
    return StartActivity<R>(std::move(type), options, args...).result;
  }

  // --- Timers -----------------------------------------------------------

  /// A timer firing after `duration` of workflow time (OK), or Cancelled
  /// when cancelled. Zero or negative durations resolve at once without a
  /// command.
  Started<void> NewTimer(Duration duration);
  /// NewTimer without the handle.
  Future<void> Sleep(Duration duration) { return NewTimer(duration).result; }

  /// Resolves (OK) once `condition` holds; it is re-checked after every
  /// step of workflow code, so it may only read workflow state.
  Future<void> WaitCondition(std::function<bool()> condition);

  // --- Signals ----------------------------------------------------------

  /// The next signal named `name`, raw. Signals are buffered until read, so
  /// none is lost before a receiver or handler exists. Receivers of one name
  /// are served in the order they asked.
  Future<Payloads> ReceiveSignalRaw(const std::string& name);
  /// The next signal named `name`, its first argument decoded as T.
  template <typename T>
  Future<T> ReceiveSignal(const std::string& name) {
    return internal::DecodeFuture<T>(ReceiveSignalRaw(name));
  }
  /// A buffered signal if one is waiting, without blocking.
  std::optional<Payloads> TryReceiveSignalRaw(const std::string& name);

  /// Calls `handler` for every signal named `name`, starting with those
  /// already buffered (inline, now). Replaces an earlier handler. Receivers
  /// waiting on the name are served first.
  void SetSignalHandlerRaw(const std::string& name, std::function<void(const Payloads&)> handler);
  /// Typed handler of the first argument; undecodable signals are logged
  /// and dropped.
  template <typename T>
  void SetSignalHandler(const std::string& name, std::function<void(T)> handler) {
    SetSignalHandlerRaw(name, [this, name, handler = std::move(handler)](const Payloads& payloads) {
      auto value = FromPayloads<T>(payloads, 0);
      if (!value.ok()) {
        Log(LogLevel::kWarning, "dropping signal " + name + ": " + value.status().ToString());
        return;
      }
      handler(std::move(*value));
    });
  }

  // --- Queries ----------------------------------------------------------

  /// Registers a read-only query handler. It must not block, start
  /// anything or change workflow state; errors become FAILED query results.
  void SetQueryHandlerRaw(const std::string& name,
                          std::function<arrow::Result<Payload>(const Payloads&)> handler);
  /// Typed handler without arguments.
  template <typename R>
  void SetQueryHandler(const std::string& name, std::function<R()> handler) {
    SetQueryHandlerRaw(name, [handler = std::move(handler)](const Payloads&) -> arrow::Result<Payload> {
      return ToPayload(handler());
    });
  }

  // --- Markers ----------------------------------------------------------

  /// Runs `fn` once and records its value in history; on replay returns the
  /// recorded value without running `fn`.
  arrow::Result<Payload> SideEffectRaw(const std::function<arrow::Result<Payload>()>& fn);
  template <typename R>
  arrow::Result<R> SideEffect(const std::function<R()>& fn) {
    ARROW_ASSIGN_OR_RAISE(Payload payload, SideEffectRaw([&]() { return ToPayload(fn()); }));
    return FromPayload<R>(payload);
  }

  /// Versioning (core SDK "patch" markers, compatible in spirit): returns
  /// true for runs that executed this call after the change was deployed
  /// (and records that), false when replaying a history made before it.
  ///
  ///   if (ctx.Patched("v2-validate")) { ...new code... } else { ...old code... }
  bool Patched(const std::string& patch_id);
  /// Marks a patch whose old branch is gone: records a deprecated marker,
  /// which replays of older histories tolerate.
  void DeprecatePatch(const std::string& patch_id);

  // --- Cancellation -----------------------------------------------------

  /// True once cancellation of this workflow was requested.
  bool IsCancelRequested() const;
  /// Resolves (OK) when cancellation is requested. A workflow that then
  /// returns a Cancelled status ends as canceled.
  Future<void> CancelRequested();

  // --- Children and continue-as-new ----------------------------------------

  Started<Payloads> StartChildWorkflowRaw(std::string type, const ChildWorkflowOptions& options,
                                          Payloads args);
  /// Starts a child workflow and resolves with its result (or failure;
  /// AlreadyExists when the id is taken).
  template <typename R, typename... Args>
  Future<R> ExecuteChildWorkflow(std::string type, const ChildWorkflowOptions& options,
                                 const Args&... args) {
    auto payloads = ToPayloads(args...);
    if (!payloads.ok()) return Future<R>::Ready(payloads.status());
    return internal::DecodeFuture<R>(
        StartChildWorkflowRaw(std::move(type), options, std::move(*payloads)).result);
  }

  /// Prepares continue-as-new; the workflow must `co_return` the returned
  /// status right away. The new run starts with `args`.
  ///
  ///   co_return ctx.ContinueAsNew({}, next_cursor);
  arrow::Status ContinueAsNewRaw(const ContinueAsNewOptions& options, Payloads args);
  template <typename... Args>
  arrow::Status ContinueAsNew(const ContinueAsNewOptions& options, const Args&... args) {
    auto payloads = ToPayloads(args...);
    if (!payloads.ok()) return payloads.status();
    return ContinueAsNewRaw(options, std::move(*payloads));
  }
  /// True when the server suggests continuing as new (history is large).
  bool ContinueAsNewSuggested() const;

 private:
  internal::WorkflowRun* run_;
};

}  // namespace flightdeck::temporal::workflow
