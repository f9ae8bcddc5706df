// test_workflows.h: workflows and activities used by the SDK integration,
// replay and fault tests and by the sdk_test_worker binary.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "flightdeck/temporal/worker/worker.h"
#include "flightdeck/temporal/workflow/when.h"
#include "flightdeck/temporal/workflow/workflow_context.h"

namespace flightdeck::temporal::testing {

using namespace std::chrono_literals;
using workflow::ActivityOptions;
using workflow::Future;
using workflow::Task;
using workflow::WorkflowContext;

inline ActivityOptions QuickActivity() {
  ActivityOptions options;
  options.start_to_close_timeout = 10s;
  return options;
}
/// Option structs passed inside a co_await expression must be named objects
/// (see "GCC 12" in workflow_context.h).
inline const ActivityOptions kQuick = QuickActivity();

/// One activity and one timer.
inline Task<std::string> Greet(WorkflowContext& ctx, std::string name) {
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(std::string text,
                                co_await ctx.ExecuteActivity<std::string>("Compose", kQuick, name));
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await ctx.Sleep(50ms));
  co_return text + "!";
}

/// Same as Greet but calls a different activity: nondeterministic against
/// Greet's histories.
inline Task<std::string> GreetChanged(WorkflowContext& ctx, std::string name) {
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(std::string text,
                                co_await ctx.ExecuteActivity<std::string>("Compose2", kQuick, name));
  co_return text;
}

/// n activities in parallel, then WhenAll; WhenAny between a timer and an
/// activity.
inline Task<int> FanOut(WorkflowContext& ctx, int n) {
  std::vector<Future<int>> parts;
  for (int i = 1; i <= n; ++i) parts.push_back(ctx.ExecuteActivity<int>("Square", QuickActivity(), i));
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(auto outcomes, co_await workflow::WhenAll(parts));
  int sum = 0;
  for (auto& outcome : outcomes) {
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(int value, outcome);
    sum += value;
  }
  auto timer = ctx.NewTimer(1h);
  Future<int> quick = ctx.ExecuteActivity<int>("Square", kQuick, 10);
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(size_t winner, co_await workflow::WhenAnyOf(timer.result, quick));
  if (winner != 1) co_return arrow::Status::Invalid("the 1h timer won");
  timer.handle.Cancel();
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(int last, co_await quick);
  co_return sum + last;
}

/// Adds "add" signals until a "done" signal; query "total" reads the sum.
inline Task<int> SignalCounter(WorkflowContext& ctx) {
  auto total = std::make_shared<int>(0);
  ctx.SetQueryHandler<int>("total", [total] { return *total; });
  ctx.SetSignalHandler<int>("add", [total](int value) { *total += value; });
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await ctx.ReceiveSignal<std::string>("done"));
  co_return *total;
}

/// Side effect, patch and deterministic random/time.
inline Task<std::string> Markers(WorkflowContext& ctx) {
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(int64_t drawn,
                                ctx.SideEffect<int64_t>([&] { return static_cast<int64_t>(ctx.Random() % 1000); }));
  const bool patched = ctx.Patched("use-v2");
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await ctx.Sleep(10ms));
  // Values seen on replay must equal those seen live.
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(int64_t again, ctx.SideEffect<int64_t>([] { return int64_t{-1}; }));
  co_return std::to_string(drawn) + "/" + (patched ? "v2" : "v1") + "/" + std::to_string(again);
}

/// Waits for cancellation (or a day), then ends as canceled.
inline Task<std::string> Cancellable(WorkflowContext& ctx) {
  auto timer = ctx.NewTimer(24h);
  auto cancelled = ctx.CancelRequested();
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(size_t winner, co_await workflow::WhenAnyOf(timer.result, cancelled));
  if (winner == 1) {
    timer.handle.Cancel();
    co_return arrow::Status::Cancelled("cancelled on request");
  }
  co_return std::string("timer fired");
}

/// Continues as new until n reaches 3.
inline Task<int> Chain(WorkflowContext& ctx, int n) {
  const workflow::ContinueAsNewOptions options;
  if (n < 3) co_return ctx.ContinueAsNew(options, n + 1);
  co_return n;
}

/// Runs Greet as a child.
inline Task<std::string> Parent(WorkflowContext& ctx, std::string name) {
  const workflow::ChildWorkflowOptions options;
  co_return co_await ctx.ExecuteChildWorkflow<std::string>("Greet", options, name);
}

/// Reports how activity failures look to workflow code.
inline Task<std::string> Failures(WorkflowContext& ctx) {
  ActivityOptions options = QuickActivity();
  options.retry_policy = workflow::RetryPolicy{.initial_interval = 100ms, .maximum_attempts = 5};
  auto bad = co_await ctx.ExecuteActivity<int>("FailHard", options);
  auto flaky = co_await ctx.ExecuteActivity<int>("Flaky", options);
  ActivityOptions short_options;
  short_options.start_to_close_timeout = 300ms;
  short_options.retry_policy = workflow::RetryPolicy{.maximum_attempts = 1};
  auto slow = co_await ctx.ExecuteActivity<int>("Slow", short_options);
  std::string out = "bad=" + ApplicationErrorType(bad.status()) +
                    (bad.status().IsInvalid() ? "(non-retryable)" : "");
  out += ";flaky=" + (flaky.ok() ? std::to_string(*flaky) : flaky.status().ToString());
  out += ";slow=" + std::string(IsTimeout(slow.status()) ? "timeout" : slow.status().ToString());
  co_return out;
}

/// Starts a heartbeating activity, cancels it after a timer, waits for the
/// cancellation to complete.
inline Task<std::string> CancelActivity(WorkflowContext& ctx) {
  ActivityOptions options;
  options.start_to_close_timeout = 60s;
  options.heartbeat_timeout = 1s;
  options.cancellation_type = workflow::ActivityCancellationType::kWaitCancellationCompleted;
  auto started = ctx.StartActivity<int>("Heartbeater", options);
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await ctx.Sleep(1500ms));
  started.handle.Cancel();
  auto outcome = co_await started.result;
  co_return outcome.status().IsCancelled() ? std::string("cancelled") : outcome.status().ToString();
}

/// An activity that heartbeats every 2.5 s under a 4 s heartbeat timeout:
/// only the throttled heartbeat's background flush (at 3.2 s) keeps it alive.
inline Task<std::string> SparseHeartbeats(WorkflowContext& ctx) {
  ActivityOptions options;
  options.start_to_close_timeout = 60s;
  options.heartbeat_timeout = 4s;
  options.retry_policy = workflow::RetryPolicy{.maximum_attempts = 1};
  auto outcome = co_await ctx.ExecuteActivity<int>("SparseHeartbeater", options);
  co_return outcome.ok() ? std::to_string(*outcome) : outcome.status().ToString();
}

/// Sleeps `seconds` in steps of activities, for the fault tests.
inline Task<int> Steps(WorkflowContext& ctx, int steps) {
  int done = 0;
  for (int i = 0; i < steps; ++i) {
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(int value, co_await ctx.ExecuteActivity<int>("Square", kQuick, i));
    done += value >= 0 ? 1 : 0;
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await ctx.Sleep(200ms));
  }
  co_return done;
}

/// One trivial activity (the benchmark's unit of work).
inline Task<int> OneActivity(WorkflowContext& ctx, int x) {
  co_return co_await ctx.ExecuteActivity<int>("Square", kQuick, x);
}

/// n trivial activities in parallel (the benchmark's activity throughput).
inline Task<int> ManyActivities(WorkflowContext& ctx, int n) {
  std::vector<Future<int>> parts;
  for (int i = 0; i < n; ++i) parts.push_back(ctx.ExecuteActivity<int>("Square", QuickActivity(), i));
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(std::vector<int> values, co_await workflow::WhenAllSucceed(parts));
  int sum = 0;
  for (int value : values) sum += value;
  co_return sum;
}

inline void RegisterTestWorkflows(Worker& worker) {
  (void)worker.RegisterWorkflow("OneActivity", &OneActivity);
  (void)worker.RegisterWorkflow("ManyActivities", &ManyActivities);
  (void)worker.RegisterWorkflow("Greet", &Greet);
  (void)worker.RegisterWorkflow("FanOut", &FanOut);
  (void)worker.RegisterWorkflow("SignalCounter", &SignalCounter);
  (void)worker.RegisterWorkflow("Markers", &Markers);
  (void)worker.RegisterWorkflow("Cancellable", &Cancellable);
  (void)worker.RegisterWorkflow("Chain", &Chain);
  (void)worker.RegisterWorkflow("Parent", &Parent);
  (void)worker.RegisterWorkflow("Failures", &Failures);
  (void)worker.RegisterWorkflow("CancelActivity", &CancelActivity);
  (void)worker.RegisterWorkflow("Steps", &Steps);
  (void)worker.RegisterWorkflow("SparseHeartbeats", &SparseHeartbeats);
}

inline void RegisterTestActivities(Worker& worker) {
  (void)worker.RegisterActivity("Compose", [](ActivityContext&, std::string name) -> arrow::Result<std::string> {
    return "Hello, " + name;
  });
  (void)worker.RegisterActivity("Square", [](ActivityContext&, int x) -> arrow::Result<int> { return x * x; });
  (void)worker.RegisterActivity("FailHard", [](ActivityContext&) -> arrow::Result<int> {
    return ApplicationError("BadThing", "this never works", /*non_retryable=*/true);
  });
  (void)worker.RegisterActivity("Flaky", [](ActivityContext& ctx) -> arrow::Result<int> {
    // Resumes from the previous attempt's heartbeat.
    const int seen = ctx.HeartbeatDetails<int>().ValueOr(0);
    ctx.Heartbeat(seen + 1);
    if (ctx.info().attempt < 3) return ApplicationError("Transient", "try again");
    return ctx.info().attempt * 100 + seen;
  });
  (void)worker.RegisterActivity("Slow", [](ActivityContext&) -> arrow::Result<int> {
    std::this_thread::sleep_for(2s);
    return 1;
  });
  (void)worker.RegisterActivity("SparseHeartbeater", [](ActivityContext& ctx) -> arrow::Result<int> {
    for (int beat = 1; beat <= 3; ++beat) {
      ctx.Heartbeat(beat);
      std::this_thread::sleep_for(2500ms);
    }
    return 3;
  });
  (void)worker.RegisterActivity("Heartbeater", [](ActivityContext& ctx) -> arrow::Result<int> {
    const auto give_up = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < give_up) {
      ctx.Heartbeat(1);
      if (ctx.IsCancelled()) return arrow::Status::Cancelled("activity saw the cancel request");
      std::this_thread::sleep_for(100ms);
    }
    return 0;
  });
}

/// Every test workflow and activity.
inline void RegisterAll(Worker& worker) {
  RegisterTestWorkflows(worker);
  RegisterTestActivities(worker);
}

}  // namespace flightdeck::temporal::testing
