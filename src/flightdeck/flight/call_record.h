// flightdeck/flight/call_record.h: what a data node tells its observer
// (metrics, traces) about every call when it ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace flightdeck::flight {

/// One finished call, as metrics and traces see it.
struct CallRecord {
  /// Empty when the call was refused before its caller was known.
  std::string tenant;
  /// The Flight method, or the action's name.
  std::string action;
  int64_t rows = -1;
  int64_t bytes = -1;
  /// The gRPC status name (OK, UNAUTHENTICATED, RESOURCE_EXHAUSTED, ...).
  std::string code;
  double seconds = 0;
  /// When the call began (wall clock, for its span).
  std::chrono::system_clock::time_point started_at;
  /// The dataset it touched, when it named one.
  std::string dataset;
  /// The caller's W3C trace context headers, empty when it sent none.
  std::string traceparent;
  std::string tracestate;
};
/// Told about every call when it ends; must be thread-safe and quick.
using CallObserver = std::function<void(const CallRecord&)>;

}  // namespace flightdeck::flight
