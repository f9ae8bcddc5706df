// flightdeck/temporal/worker/activity_context.h: what a running activity can
// see and do: its task info, heartbeats with details, and whether it was
// cancelled.
//
//   arrow::Result<int> Count(ActivityContext& ctx, int n) {
//     int start = ctx.HeartbeatDetails<int>().ValueOr(0);   // resume after a retry
//     for (int i = start; i < n; ++i) {
//       ctx.Heartbeat(i);
//       if (ctx.IsCancelled()) return arrow::Status::Cancelled("stopped at ", i);
//       ...
//     }
//     return n;
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/temporal/converter/payload_codec.h"
#include "flightdeck/temporal/converter/payload_converter.h"

namespace flightdeck::temporal {

class Connection;

/// Facts about the activity attempt being executed. Fixed for the attempt.
struct ActivityInfo {
  std::string namespace_name;
  std::string activity_id;
  std::string activity_type;
  std::string workflow_id;
  std::string run_id;
  std::string workflow_type;
  std::string task_queue;
  int32_t attempt = 1;
  /// Details of the last heartbeat of an earlier attempt (empty if none).
  Payloads heartbeat_details;
  std::chrono::milliseconds heartbeat_timeout{0};
  std::chrono::milliseconds start_to_close_timeout{0};
};

/// One per activity attempt, made by the worker. Heartbeat() and
/// IsCancelled() may be called from any thread; the context lives until the
/// activity function returns.
class ActivityContext {
 public:
  /// Heartbeat details go through `codecs` on their way to the server.
  ActivityContext(std::shared_ptr<Connection> connection, std::string identity,
                  std::string task_token, ActivityInfo info, CodecChain codecs = {});
  ~ActivityContext();
  ActivityContext(const ActivityContext&) = delete;
  ActivityContext& operator=(const ActivityContext&) = delete;

  const ActivityInfo& info() const;

  /// Records progress. Throttled: at most one RPC per 80 % of the heartbeat
  /// timeout (30 s when none is set, capped at 60 s); in between only the
  /// latest details are kept and a background flush sends them when the
  /// interval ends (and a failure report carries them too). A heartbeat response asking for cancellation (or NOT_FOUND:
  /// the attempt is gone) makes IsCancelled() true.
  void HeartbeatRaw(Payloads details);
  template <typename... Args>
  void Heartbeat(const Args&... details) {
    auto payloads = ToPayloads(details...);
    HeartbeatRaw(payloads.ok() ? std::move(*payloads) : Payloads());
  }

  /// The previous attempt's heartbeat details, decoded; KeyError when none.
  template <typename T>
  arrow::Result<T> HeartbeatDetails() const {
    if (info().heartbeat_details.payloads_size() == 0) {
      return arrow::Status::KeyError("no heartbeat details from an earlier attempt");
    }
    return FromPayloads<T>(info().heartbeat_details, 0);
  }

  /// True once cancellation reached this attempt (through a heartbeat
  /// response, or because the worker is shutting down past its grace period).
  bool IsCancelled() const;

  /// Worker internals: mark cancelled; latest unsent details.
  void MarkCancelled();
  Payloads PendingDetails() const;
  const std::string& task_token() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flightdeck::temporal
