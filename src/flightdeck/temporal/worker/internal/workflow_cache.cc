#include "flightdeck/temporal/worker/internal/workflow_cache.h"

#include <vector>

namespace flightdeck::temporal::internal {

WorkflowCache::WorkflowCache(int capacity, std::function<void(const CachedWorkflow&)> on_evict)
    : capacity_(capacity < 0 ? 0 : capacity), on_evict_(std::move(on_evict)) {}

std::unique_ptr<CachedWorkflow> WorkflowCache::CheckOut(const std::string& run_id,
                                                        std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  returned_.wait_for(lock, wait, [&] { return checked_out_.count(run_id) == 0; });
  ++checked_out_[run_id];
  auto it = index_.find(run_id);
  if (it == index_.end()) return nullptr;
  auto entry = std::move(it->second->second);
  lru_.erase(it->second);
  index_.erase(it);
  return entry;
}

void WorkflowCache::Release(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = checked_out_.find(run_id); it != checked_out_.end() && --it->second == 0) {
    checked_out_.erase(it);
  }
  returned_.notify_all();
}

void WorkflowCache::Put(const std::string& run_id, std::unique_ptr<CachedWorkflow> entry) {
  if (capacity_ == 0 || entry == nullptr) {
    Release(run_id);
    return;
  }
  std::vector<std::pair<std::string, std::unique_ptr<CachedWorkflow>>> evicted;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = checked_out_.find(run_id); it != checked_out_.end() && --it->second == 0) {
      checked_out_.erase(it);
    }
    returned_.notify_all();
    if (auto it = index_.find(run_id); it != index_.end()) {
      if (it->second->second->last_event_id > entry->last_event_id) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return;  // `entry` (older) is dropped outside the lock below
      }
      lru_.erase(it->second);
      index_.erase(it);
    }
    lru_.emplace_front(run_id, std::move(entry));
    index_[run_id] = lru_.begin();
    while (lru_.size() > static_cast<size_t>(capacity_)) {
      index_.erase(lru_.back().first);
      evicted.push_back(std::move(lru_.back()));
      lru_.pop_back();
    }
  }
  // Runs are destroyed here, outside the lock (their coroutine frames unwind).
  if (on_evict_) {
    for (const auto& [id, evicted_entry] : evicted) on_evict_(*evicted_entry);
  }
}

void WorkflowCache::Erase(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = index_.find(run_id);
  if (it == index_.end()) return;
  lru_.erase(it->second);  // the run is destroyed under the lock: rare (rejected completion)
  index_.erase(it);
}

size_t WorkflowCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lru_.size();
}

}  // namespace flightdeck::temporal::internal
