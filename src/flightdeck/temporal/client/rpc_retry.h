// flightdeck/temporal/client/rpc_retry.h: when and how long to wait before
// retrying a failed WorkflowService call.
//
// The rules are those of the official SDKs (protocol doc, section 1): retry
// with exponential backoff and jitter on UNAVAILABLE, RESOURCE_EXHAUSTED
// (with a longer backoff), ABORTED, INTERNAL (unless the server reports the
// `internal_error_differentiation` capability), UNKNOWN, DATA_LOSS and
// OUT_OF_RANGE, all within one time budget per logical call. The Client
// applies them to every unary call; long polls additionally retry
// DEADLINE_EXCEEDED.
//
//   RpcRetryOptions retry{.max_elapsed = std::chrono::seconds(20)};
//   ClientOptions options{.ns = "default", .retry = retry};
#pragma once

#include <chrono>
#include <cstdint>

#include <grpcpp/support/status.h>

namespace flightdeck::temporal {

/// Backoff parameters. Plain data; copy freely.
struct RpcRetryOptions {
  /// First delay for ordinary retryable codes.
  std::chrono::milliseconds initial_interval{100};
  /// First delay after RESOURCE_EXHAUSTED (the server asks us to slow down).
  std::chrono::milliseconds resource_exhausted_initial_interval{1000};
  /// Each further attempt multiplies the delay by this (>= 1).
  double backoff_coefficient = 1.7;
  /// Upper bound of one delay (before jitter).
  std::chrono::milliseconds maximum_interval{5000};
  /// Upper bound of one delay after RESOURCE_EXHAUSTED (before jitter).
  std::chrono::milliseconds resource_exhausted_maximum_interval{10000};
  /// Each delay is scaled by a uniform random factor in [1 - jitter, 1 + jitter].
  double jitter = 0.2;
  /// No new attempt starts later than this after the first failure; 0 = one
  /// attempt.
  std::chrono::milliseconds max_elapsed{std::chrono::seconds(30)};
  /// At most this many attempts in all (0 = only max_elapsed limits them).
  int maximum_attempts = 0;
};

/// Whether a call that failed with `code` may be retried. `internal_errors_final`
/// is true when the server has the internal_error_differentiation capability
/// (then INTERNAL means a real bug, not a transient failure). `long_poll`
/// adds DEADLINE_EXCEEDED (an expired poll). Thread-safe (pure).
bool IsRetryableCode(grpc::StatusCode code, bool internal_errors_final, bool long_poll = false);

/// The delay before retry number `retry` (1 = the first retry) after a
/// failure with `code`, without jitter: initial * coefficient^(retry-1),
/// capped at the maximum interval of that code's class. Thread-safe (pure).
std::chrono::milliseconds BackoffDelay(const RpcRetryOptions& options, grpc::StatusCode code,
                                       int retry);

/// BackoffDelay scaled by a jitter factor drawn from `unit_random` in [0, 1)
/// (0.5 gives the unjittered delay). Thread-safe (pure).
std::chrono::milliseconds JitteredDelay(const RpcRetryOptions& options, grpc::StatusCode code,
                                        int retry, double unit_random);

}  // namespace flightdeck::temporal
