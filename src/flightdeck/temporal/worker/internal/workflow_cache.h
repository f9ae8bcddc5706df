// flightdeck/temporal/worker/internal/workflow_cache.h: the worker's sticky
// cache of live workflow runs (protocol doc 4.5), keyed by run id, with LRU
// eviction.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "flightdeck/temporal/workflow/internal/workflow_run.h"

namespace flightdeck::temporal::internal {

/// A live workflow run and how far it got.
struct CachedWorkflow {
  std::unique_ptr<workflow::internal::WorkflowRun> run;
  /// The last history event applied: the WorkflowTaskStarted of the task
  /// whose commands were completed.
  int64_t last_event_id = 0;
};

/// Thread-safe. Entries are checked out (removed) while a task uses them, so
/// one run is never driven by two threads: CheckOut() of a run that is
/// checked out waits until it is given back (Put or Release), at most
/// `wait`, and then sees a miss (the caller replays from full history).
class WorkflowCache {
 public:
  /// `capacity` 0 disables caching (Put drops everything). `on_evict` is
  /// called (outside the lock, on the thread of the Put) with every entry
  /// pushed out by capacity, just before it is destroyed; it may be empty.
  WorkflowCache(int capacity, std::function<void(const CachedWorkflow& evicted)> on_evict);

  int capacity() const { return capacity_; }

  /// Marks `run_id` checked out and removes and returns its entry; null
  /// when there is none. Every CheckOut must be followed by Put() or
  /// Release() of the run (see CheckedOut).
  std::unique_ptr<CachedWorkflow> CheckOut(const std::string& run_id,
                                           std::chrono::milliseconds wait = std::chrono::seconds(2));

  /// Gives back a checked-out run: stores `entry` as the most recently used
  /// one, evicting the least recently used entries beyond capacity. An
  /// entry already stored for the run that got further (higher
  /// last_event_id) wins over `entry`. Also valid for a run not checked out.
  void Put(const std::string& run_id, std::unique_ptr<CachedWorkflow> entry);

  /// Gives back a checked-out run without an entry (it was dropped).
  void Release(const std::string& run_id);

  /// Drops the entry of `run_id` if stored.
  void Erase(const std::string& run_id);

  /// Entries stored now.
  size_t size() const;

 private:
  using Lru = std::list<std::pair<std::string, std::unique_ptr<CachedWorkflow>>>;
  const int capacity_;
  std::function<void(const CachedWorkflow&)> on_evict_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::unordered_map<std::string, int> checked_out_;  // run id -> holders
  Lru lru_;  // most recently used first
  std::unordered_map<std::string, Lru::iterator> index_;
};

/// Releases a checked-out run on scope exit unless it was put back.
class CheckedOut {
 public:
  CheckedOut(WorkflowCache* cache, std::string run_id)
      : cache_(cache), run_id_(std::move(run_id)) {
    if (cache_ != nullptr) entry = cache_->CheckOut(run_id_);
  }
  ~CheckedOut() {
    if (cache_ != nullptr && !given_back_) cache_->Release(run_id_);
  }
  CheckedOut(const CheckedOut&) = delete;
  CheckedOut& operator=(const CheckedOut&) = delete;

  /// Puts `entry` back into the cache (once).
  void PutBack() {
    if (cache_ == nullptr || given_back_) return;
    given_back_ = true;
    cache_->Put(run_id_, std::move(entry));
  }

  /// The checked-out entry, or the one to put back; may be null.
  std::unique_ptr<CachedWorkflow> entry;

 private:
  WorkflowCache* cache_;
  std::string run_id_;
  bool given_back_ = false;
};

}  // namespace flightdeck::temporal::internal
