// flightdeck/temporal/client/request_metrics_internal.h: the gRPC client
// interceptor that counts every WorkflowService call of a Connection as the
// official SDKs do (temporal_request, temporal_long_request for polls,
// their _failure and _latency; metrics_handler.h). Internal to the SDK.
#pragma once

#include <memory>
#include <vector>

#include <grpcpp/support/client_interceptor.h>

#include "flightdeck/temporal/client/metrics_handler.h"

namespace flightdeck::temporal::internal {

/// The interceptor factories of a channel whose calls go to `metrics`.
std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> RequestMetricsInterceptors(
    std::shared_ptr<MetricsHandler> metrics);

}  // namespace flightdeck::temporal::internal
