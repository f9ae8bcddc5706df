#include "flightdeck/temporal/client/rpc_retry.h"

#include <algorithm>
#include <cmath>

namespace flightdeck::temporal {

bool IsRetryableCode(grpc::StatusCode code, bool internal_errors_final, bool long_poll) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::OUT_OF_RANGE:
      return true;
    case grpc::StatusCode::INTERNAL:
      return !internal_errors_final;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return long_poll;
    default:
      return false;
  }
}

std::chrono::milliseconds BackoffDelay(const RpcRetryOptions& options, grpc::StatusCode code,
                                       int retry) {
  const bool exhausted = code == grpc::StatusCode::RESOURCE_EXHAUSTED;
  const double initial = static_cast<double>(
      (exhausted ? options.resource_exhausted_initial_interval : options.initial_interval).count());
  const double cap = static_cast<double>(
      (exhausted ? options.resource_exhausted_maximum_interval : options.maximum_interval).count());
  const double coefficient = std::max(1.0, options.backoff_coefficient);
  const double delay = initial * std::pow(coefficient, std::max(0, retry - 1));
  return std::chrono::milliseconds(static_cast<int64_t>(std::min(delay, cap)));
}

std::chrono::milliseconds JitteredDelay(const RpcRetryOptions& options, grpc::StatusCode code,
                                        int retry, double unit_random) {
  const double base = static_cast<double>(BackoffDelay(options, code, retry).count());
  const double jitter = std::clamp(options.jitter, 0.0, 1.0);
  const double factor = 1.0 + jitter * (2.0 * std::clamp(unit_random, 0.0, 1.0) - 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(base * factor));
}

}  // namespace flightdeck::temporal

// ---- internal retry loop ----

#include <thread>

#include "flightdeck/common/random.h"
#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/client/rpc_retry_internal.h"

namespace flightdeck::temporal::internal {

arrow::Status CallWithRetry(const RpcRetryOptions& options, std::string_view rpc, bool long_poll,
                            const std::function<std::unique_ptr<grpc::ClientContext>()>& make_context,
                            const std::function<grpc::Status(grpc::ClientContext*)>& attempt,
                            const std::function<bool()>& internal_errors_final) {
  // The budget starts at the first failure, so a long poll that ran for a
  // minute before failing still gets its retries.
  std::chrono::steady_clock::time_point give_up_at;
  int attempts = 0;
  while (true) {
    ++attempts;
    auto context = make_context();
    grpc::Status status = attempt(context.get());
    if (status.ok()) return arrow::Status::OK();
    if (attempts == 1) give_up_at = std::chrono::steady_clock::now() + options.max_elapsed;
    const grpc::StatusCode code = status.error_code();
    bool retry = false;
    if (code == grpc::StatusCode::INTERNAL) {
      retry = !internal_errors_final();
    } else {
      retry = IsRetryableCode(code, /*internal_errors_final=*/true, long_poll);
    }
    if (options.maximum_attempts > 0 && attempts >= options.maximum_attempts) retry = false;
    std::chrono::milliseconds delay{0};
    if (retry) {
      // An expired long poll is routine: poll again at once.
      delay = (long_poll && code == grpc::StatusCode::DEADLINE_EXCEEDED)
                  ? std::chrono::milliseconds(0)
                  : JitteredDelay(options, code, attempts, RandomUnit());
      if (std::chrono::steady_clock::now() + delay > give_up_at) retry = false;
    }
    if (!retry) {
      arrow::Status result = FromGrpcStatus(status, rpc);
      if (attempts > 1) {
        return result.WithMessage(result.message(), " (after ", attempts, " attempts)");
      }
      return result;
    }
    std::this_thread::sleep_for(delay);  // backoff between attempts
  }
}

}  // namespace flightdeck::temporal::internal
