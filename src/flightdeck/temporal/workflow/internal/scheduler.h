// flightdeck/temporal/workflow/internal/scheduler.h: the deterministic,
// single-threaded coroutine executor of one workflow run.
//
// Coroutines never resume each other directly: a resolved future queues its
// waiters here and RunUntilBlocked() resumes them one by one in FIFO order, so
// the interleaving depends only on the order of history events, never on
// threads or clocks. The scheduler also owns every live coroutine frame of its
// run and destroys the ones still suspended when the run is torn down.
#pragma once

#include <coroutine>
#include <deque>
#include <string>
#include <unordered_set>

namespace flightdeck::temporal::workflow::internal {

class Scheduler {
 public:
  Scheduler() = default;
  /// Destroys the frames of coroutines that never finished.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// The scheduler of the run executing on this thread, or nullptr outside
  /// workflow code.
  static Scheduler* Current();

  /// Queues `handle` to be resumed by RunUntilBlocked().
  void Schedule(std::coroutine_handle<> handle) { ready_.push_back(handle); }

  /// Resumes queued coroutines until none is runnable. Makes this the
  /// Current() scheduler meanwhile.
  void RunUntilBlocked();

  /// Frame bookkeeping, called by task promises.
  void Adopt(std::coroutine_handle<> frame) { frames_.insert(frame.address()); }
  void Forget(std::coroutine_handle<> frame) { frames_.erase(frame.address()); }

  /// Records a C++ exception that escaped workflow code (a workflow bug: it
  /// fails the workflow task, not the workflow). Keeps the first one.
  void SetPanic(std::string what) {
    if (panic_.empty()) panic_ = std::move(what);
  }
  const std::string& panic() const { return panic_; }

  /// RAII: makes `scheduler` Current() on this thread for a scope.
  class Scope {
   public:
    explicit Scope(Scheduler* scheduler);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Scheduler* previous_;
  };

 private:
  std::deque<std::coroutine_handle<>> ready_;
  std::unordered_set<void*> frames_;
  std::string panic_;
  bool tearing_down_ = false;
};

}  // namespace flightdeck::temporal::workflow::internal
