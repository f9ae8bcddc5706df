// flightdeck/temporal/workflow/future.h: the awaitable types of workflow code.
//
// A workflow is a C++20 coroutine returning Task<T>. Inside it, every
// operation that waits on the outside world (an activity, a timer, a signal,
// a child workflow) returns a Future<T>; `co_await` on it yields an
// Outcome<T>: arrow::Result<T>, or arrow::Status when T is void. Errors travel
// as values: a coroutine ends with `co_return value;`, `co_return status;` or
// `co_return result;`, never by throwing.
//
//   Task<int> Double(WorkflowContext& ctx, int x) {
//     FLIGHTDECK_CO_RETURN_NOT_OK(co_await ctx.Sleep(std::chrono::seconds(1)));
//     FLIGHTDECK_CO_ASSIGN_OR_RAISE(int y, co_await ctx.ExecuteActivity<int>("Inc", opts, x));
//     co_return 2 * y;
//   }
//
// Tasks start eagerly: calling a Task-returning function runs it until its
// first suspension, so several tasks started one after another run
// concurrently (cooperatively, on the run's single thread). Keep the Task to
// await it later; dropping it lets the coroutine run on unobserved.
//
// Threading: workflow code and these types belong to one workflow run and are
// used only on the thread executing it. Not thread-safe.
#pragma once

#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/temporal/workflow/internal/scheduler.h"

/// ARROW_RETURN_NOT_OK for coroutines (which must `co_return`).
#define FLIGHTDECK_CO_RETURN_NOT_OK(expr)            \
  do {                                               \
    ::arrow::Status _fd_st = ::arrow::ToStatus(expr); \
    if (!_fd_st.ok()) co_return _fd_st;              \
  } while (false)

#define FLIGHTDECK_CO_CONCAT_INNER(a, b) a##b
#define FLIGHTDECK_CO_CONCAT(a, b) FLIGHTDECK_CO_CONCAT_INNER(a, b)
#define FLIGHTDECK_CO_ASSIGN_OR_RAISE_IMPL(result_name, lhs, rexpr) \
  auto result_name = (rexpr);                                     \
  if (!result_name.ok()) co_return result_name.status();          \
  lhs = std::move(result_name).ValueUnsafe();

/// ARROW_ASSIGN_OR_RAISE for coroutines.
#define FLIGHTDECK_CO_ASSIGN_OR_RAISE(lhs, rexpr) \
  FLIGHTDECK_CO_ASSIGN_OR_RAISE_IMPL(FLIGHTDECK_CO_CONCAT(_fd_result_, __COUNTER__), lhs, rexpr)

namespace flightdeck::temporal::workflow {

/// What awaiting a Future<T> yields: Result<T>, or Status for T = void.
template <typename T>
using Outcome = std::conditional_t<std::is_void_v<T>, arrow::Status, arrow::Result<T>>;

namespace internal {

/// Shared state between a Future and whoever resolves it.
template <typename T>
struct FutureState {
  std::optional<Outcome<T>> outcome;
  std::vector<std::coroutine_handle<>> waiters;
  std::vector<std::function<void()>> callbacks;

  /// First resolution wins; later ones are ignored. Waiters are queued on
  /// the current scheduler (not resumed inline), callbacks run inline.
  void Resolve(Outcome<T> value) {
    if (outcome.has_value()) return;
    outcome.emplace(std::move(value));
    Scheduler* scheduler = Scheduler::Current();
    for (auto waiter : waiters) {
      if (scheduler != nullptr) scheduler->Schedule(waiter);
    }
    waiters.clear();
    auto pending = std::move(callbacks);
    callbacks.clear();
    for (auto& callback : pending) callback();
  }
};

}  // namespace internal

/// A value that becomes available later in the workflow. Copyable handle to
/// shared state; awaiting it any number of times yields the same Outcome.
template <typename T = void>
class [[nodiscard("a Future does nothing by itself: co_await it or keep it")]] Future {
 public:
  /// An invalid future; valid() is false. Do not await it.
  Future() = default;
  explicit Future(std::shared_ptr<internal::FutureState<T>> state) : state_(std::move(state)) {}

  /// A future that is already resolved with `value`.
  static Future Ready(Outcome<T> value) {
    auto state = std::make_shared<internal::FutureState<T>>();
    state->outcome.emplace(std::move(value));
    return Future(std::move(state));
  }

  bool valid() const { return state_ != nullptr; }
  /// True once resolved. REQUIRES: valid().
  bool ready() const { return state_->outcome.has_value(); }
  /// The outcome. REQUIRES: ready().
  const Outcome<T>& outcome() const { return *state_->outcome; }

  /// Calls `callback` (inline) once resolved; at once if already resolved.
  void OnReady(std::function<void()> callback) const {
    if (ready()) {
      callback();
    } else {
      state_->callbacks.push_back(std::move(callback));
    }
  }

  struct [[nodiscard("co_await yields the outcome; check it")]] Awaiter {
    std::shared_ptr<internal::FutureState<T>> state;
    bool await_ready() const noexcept { return state->outcome.has_value(); }
    void await_suspend(std::coroutine_handle<> handle) { state->waiters.push_back(handle); }
    Outcome<T> await_resume() const { return *state->outcome; }
  };
  Awaiter operator co_await() const { return Awaiter{state_}; }

 protected:
  std::shared_ptr<internal::FutureState<T>> state_;
};

/// The resolving side of a Future, for runtime code and advanced workflow
/// code (e.g. bridging a signal handler to an awaiting coroutine).
template <typename T = void>
class Promise {
 public:
  Promise() : state_(std::make_shared<internal::FutureState<T>>()) {}
  Future<T> future() const { return Future<T>(state_); }
  /// First call wins; later calls are ignored.
  void Resolve(Outcome<T> value) const { state_->Resolve(std::move(value)); }
  bool resolved() const { return state_->outcome.has_value(); }

 private:
  std::shared_ptr<internal::FutureState<T>> state_;
};

template <typename T>
class Task;

namespace internal {

/// Promise parts shared by all Task<T>.
template <typename T>
struct TaskPromiseBase {
  std::shared_ptr<FutureState<T>> state = std::make_shared<FutureState<T>>();
  std::coroutine_handle<> frame;

  std::suspend_never initial_suspend() noexcept { return {}; }
  std::suspend_never final_suspend() noexcept { return {}; }
  void unhandled_exception() {
    std::string what = "unknown exception";
    try {
      throw;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    if (Scheduler* scheduler = Scheduler::Current()) {
      scheduler->SetPanic("workflow code threw: " + what);
    }
    state->Resolve(arrow::Status::UnknownError("workflow code threw: ", what));
  }
  void Register(std::coroutine_handle<> handle) {
    frame = handle;
    if (Scheduler* scheduler = Scheduler::Current()) scheduler->Adopt(handle);
  }
  ~TaskPromiseBase() {
    if (Scheduler* scheduler = Scheduler::Current()) scheduler->Forget(frame);
  }
};

template <typename T>
struct TaskPromise : TaskPromiseBase<T> {
  Task<T> get_return_object();
  void return_value(Outcome<T> value) { this->state->Resolve(std::move(value)); }
};

template <>
struct TaskPromise<void> : TaskPromiseBase<void> {
  Task<void> get_return_object();
  void return_value(arrow::Status status) { this->state->Resolve(std::move(status)); }
};

}  // namespace internal

/// The return type of workflow coroutines. A Task is a Future for the
/// coroutine's own result, so it can be awaited, passed to WhenAll/WhenAny,
/// or stored. Task<void> coroutines end with `co_return arrow::Status::OK();`.
template <typename T = void>
class [[nodiscard("a Task runs eagerly; co_await it to get its outcome")]] Task : public Future<T> {
 public:
  using promise_type = internal::TaskPromise<T>;
  using Future<T>::Future;
  explicit Task(Future<T> future) : Future<T>(std::move(future)) {}
};

namespace internal {

template <typename T>
Task<T> TaskPromise<T>::get_return_object() {
  this->Register(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
  return Task<T>(Future<T>(this->state));
}

inline Task<void> TaskPromise<void>::get_return_object() {
  this->Register(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
  return Task<void>(Future<void>(this->state));
}

}  // namespace internal
}  // namespace flightdeck::temporal::workflow
