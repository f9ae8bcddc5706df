#include "flightdeck/temporal/workflow/internal/scheduler.h"

#include <vector>

namespace flightdeck::temporal::workflow::internal {

namespace {
thread_local Scheduler* current_scheduler = nullptr;
}  // namespace

Scheduler* Scheduler::Current() { return current_scheduler; }

Scheduler::Scope::Scope(Scheduler* scheduler) : previous_(current_scheduler) {
  current_scheduler = scheduler;
}
Scheduler::Scope::~Scope() { current_scheduler = previous_; }

void Scheduler::RunUntilBlocked() {
  Scope scope(this);
  while (!ready_.empty()) {
    std::coroutine_handle<> next = ready_.front();
    ready_.pop_front();
    next.resume();
  }
}

Scheduler::~Scheduler() {
  Scope scope(this);
  tearing_down_ = true;
  ready_.clear();
  // Destroying a frame runs its promise destructor, which calls Forget();
  // copy first, and destroy repeatedly since a frame may hold others.
  while (!frames_.empty()) {
    std::vector<void*> frames(frames_.begin(), frames_.end());
    frames_.clear();
    for (void* frame : frames) std::coroutine_handle<>::from_address(frame).destroy();
  }
}

}  // namespace flightdeck::temporal::workflow::internal
