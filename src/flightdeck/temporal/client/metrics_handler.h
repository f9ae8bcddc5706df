// flightdeck/temporal/client/metrics_handler.h: where the SDK's metrics go.
//
// The SDK emits the metrics of the official SDKs under their names and
// labels (docs.temporal.io/references/sdk-metrics; "temporal_" included),
// with histograms in milliseconds as the Core-based SDKs (Python,
// TypeScript, .NET) do, so that dashboards made for those work unchanged:
//
//   client: temporal_request, temporal_request_failure,
//     temporal_request_latency, temporal_long_request,
//     temporal_long_request_failure, temporal_long_request_latency
//     {namespace, operation[, status_code]}
//   worker: temporal_workflow_task_execution_latency,
//     temporal_workflow_task_execution_failed, temporal_workflow_completed,
//     temporal_workflow_failed, temporal_workflow_canceled,
//     temporal_workflow_continue_as_new, temporal_activity_execution_latency,
//     temporal_activity_execution_failed, temporal_activity_task_received,
//     temporal_worker_task_slots_available, temporal_worker_task_slots_used,
//     temporal_sticky_cache_hit, temporal_sticky_cache_miss,
//     temporal_sticky_cache_size, temporal_worker_start
//     {namespace, task_queue, workflow_type | activity_type | worker_type}
//
// An implementation (a Prometheus registry, say) must be thread-safe and
// quick: it is called on the SDK's threads.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flightdeck::temporal {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class MetricsHandler {
 public:
  virtual ~MetricsHandler() = default;
  /// Adds `value` to a counter.
  virtual void Count(std::string_view name, const MetricLabels& labels, double value) = 0;
  /// Sets a gauge.
  virtual void Set(std::string_view name, const MetricLabels& labels, double value) = 0;
  /// Records a duration, in milliseconds, in a histogram.
  virtual void RecordMilliseconds(std::string_view name, const MetricLabels& labels, double ms) = 0;
};

}  // namespace flightdeck::temporal
