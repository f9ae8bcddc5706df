// flightdeck/temporal/client/rpc_retry_internal.h: the retry loop shared by
// the Client's calls (internal to the client folder and the worker).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

#include <arrow/status.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "flightdeck/temporal/client/rpc_retry.h"

namespace flightdeck::temporal::internal {

/// Runs `attempt` with a fresh context from `make_context` until it succeeds,
/// fails with a code IsRetryableCode rejects, or `options` give up. Sleeps
/// JitteredDelay between attempts. `internal_errors_final` is asked only when
/// an attempt fails with INTERNAL. Returns FromGrpcStatus of the last attempt,
/// naming `rpc` and, when it retried, the number of attempts. Thread-safe as
/// long as the callables are.
arrow::Status CallWithRetry(const RpcRetryOptions& options, std::string_view rpc, bool long_poll,
                            const std::function<std::unique_ptr<grpc::ClientContext>()>& make_context,
                            const std::function<grpc::Status(grpc::ClientContext*)>& attempt,
                            const std::function<bool()>& internal_errors_final);

}  // namespace flightdeck::temporal::internal
