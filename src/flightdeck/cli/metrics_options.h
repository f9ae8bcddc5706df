// flightdeck/cli/metrics_options.h: --metrics-port and --metrics-host of
// `flightdeck node` and `flightdeck worker`: a Prometheus /metrics endpoint
// (observe/metrics.h) with the process's metrics.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "flightdeck/flight/call_record.h"
#include "flightdeck/flight/data_node.h"
#include "flightdeck/observe/metrics.h"
#include "flightdeck/temporal/client/metrics_handler.h"

namespace flightdeck::cli {

struct MetricsFlags {
  std::string host = "127.0.0.1";
  int port = -1;  // -1: no endpoint
};

std::shared_ptr<MetricsFlags> AddMetricsOptions(CLI::App* cmd);

/// The process's metrics and their endpoint, when --metrics-port was given
/// (both null otherwise). Prints "flightdeck metrics at http://HOST:PORT/metrics".
struct MetricsEndpoint {
  std::shared_ptr<observe::Metrics> metrics;
  std::unique_ptr<observe::MetricsServer> server;
};
MetricsEndpoint StartMetricsOrExit(const MetricsFlags& flags);

/// The Temporal SDK's metrics (official names and labels) into `metrics`.
std::shared_ptr<temporal::MetricsHandler> SdkMetrics(std::shared_ptr<observe::Metrics> metrics);

/// flightdeck_node_* per call (requests, latency, rows and bytes in and out
/// by action and tenant, auth failures, capacity refusals).
flight::CallObserver NodeCallMetrics(std::shared_ptr<observe::Metrics> metrics);

/// flightdeck_node_* of the store (datasets and bytes per tier, spills,
/// budgets), read from `node` at every scrape. `node` must outlive the
/// endpoint.
void ObserveNodeStore(observe::Metrics& metrics, const flight::DataNode* node);

}  // namespace flightdeck::cli
