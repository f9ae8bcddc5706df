// flightdeck/temporal/worker/internal/sticky_resetter.h: tells the server,
// off the task threads, that runs evicted from the sticky cache are no
// longer sticky (ResetStickyTaskQueue, protocol doc 4.5), so their next
// workflow tasks go to the normal queue with full history instead of to
// this worker's sticky queue, where they would be a cache miss.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "flightdeck/temporal/worker/internal/task_handlers.h"

namespace flightdeck::temporal::internal {

/// One background thread sending ResetStickyTaskQueue for queued runs, in
/// order. Thread-safe. `env` must outlive the resetter. Each call reports
/// the metric sticky_queue_reset (value 1 when the server acknowledged it,
/// 0 when it failed, e.g. the run has closed; failures are only logged:
/// the task then still comes to the sticky queue and is replayed there).
class StickyResetter {
 public:
  explicit StickyResetter(const HandlerEnv* env);
  /// Stop().
  ~StickyResetter();
  StickyResetter(const StickyResetter&) = delete;
  StickyResetter& operator=(const StickyResetter&) = delete;

  /// Queues a reset of run `run_id` of `workflow_id` (type `workflow_type`,
  /// for the metric). Ignored after Stop().
  void Enqueue(std::string workflow_id, std::string run_id, std::string workflow_type);

  /// Drops what is still queued (ShutdownWorker resets the whole sticky
  /// queue) and joins the thread after its current call. Idempotent.
  void Stop();

 private:
  struct Run {
    std::string workflow_id, run_id, workflow_type;
  };
  void Loop();

  const HandlerEnv* env_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Run> queue_;  // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace flightdeck::temporal::internal
