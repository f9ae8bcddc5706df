// flightdeck/pipeline/activity_keep_alive.h: heartbeats for an activity that
// spends its time in one long call (a stage over a whole partition, a sink
// write), so the Temporal server notices a dead worker within the heartbeat
// timeout and retries the activity elsewhere, instead of waiting for the
// start-to-close timeout.
//
//   [](ActivityContext& ctx, ...) -> arrow::Result<DatasetRef> {
//     const ActivityKeepAlive keep_alive(ctx);
//     return TransformPartition(...);   // heartbeats flow while this runs
//   }
#pragma once

#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

namespace flightdeck::temporal {
class ActivityContext;
}  // namespace flightdeck::temporal

namespace flightdeck::pipeline {

/// While alive, heartbeats `ctx` from a background thread every quarter of
/// the activity's heartbeat timeout, the first after one quarter, so short
/// activities send none (the context throttles the RPCs to one per 80 % of
/// the timeout). Does nothing when the activity has no heartbeat timeout.
/// The heartbeats carry the details that SetDetails gives (one json/plain
/// payload; none until it is called), which clients read from the pending
/// activity (`flightdeck status` shows progress from them). `ctx` must
/// outlive this object; the destructor stops and joins the thread promptly.
/// Not copyable or movable.
class ActivityKeepAlive {
 public:
  explicit ActivityKeepAlive(temporal::ActivityContext& ctx);
  ~ActivityKeepAlive();

  /// What each later heartbeat carries: `details()`, called on the
  /// heartbeat thread (so it must be thread-safe). Thread-safe.
  void SetDetails(std::function<nlohmann::json()> details) const;
  ActivityKeepAlive(const ActivityKeepAlive&) = delete;
  ActivityKeepAlive& operator=(const ActivityKeepAlive&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flightdeck::pipeline
