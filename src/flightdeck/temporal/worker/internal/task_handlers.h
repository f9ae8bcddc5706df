// flightdeck/temporal/worker/internal/task_handlers.h: processing of one
// polled workflow task (from the sticky cache, or replay from scratch;
// protocol doc 4.5, 5.13) and one activity task (4.4). Called from the
// worker's slot threads.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "flightdeck/temporal/worker/internal/workflow_cache.h"
#include "flightdeck/temporal/worker/worker.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace flightdeck::temporal::internal {

using HistoryEvents = std::vector<::temporal::api::history::v1::HistoryEvent>;

/// The worker's activity slots as seen by the workflow task handler, for
/// eager activity execution. All three are set (thread-safe) when the worker
/// runs activities and WorkerOptions::eager_activities is on; empty
/// otherwise.
struct EagerActivitySlots {
  /// Reserves one free activity slot; false when none is free.
  std::function<bool()> try_reserve;
  /// Gives back `count` reserved slots that got no task.
  std::function<void(int count)> release;
  /// Runs an activity task on a slot reserved before (as if polled).
  std::function<void(::temporal::api::workflowservice::v1::PollActivityTaskQueueResponse)> dispatch;

  bool enabled() const { return static_cast<bool>(try_reserve); }
};

/// Everything a task handler needs; shared, read-only after Start().
struct HandlerEnv {
  std::shared_ptr<Connection> connection;
  WorkerOptions options;
  std::string identity;
  const workflow::WorkflowRegistry* workflows = nullptr;
  const std::map<std::string, ActivityFunction>* activities = nullptr;
  EagerActivitySlots eager;
  /// Sticky execution: the cache of live runs and this worker's sticky
  /// queue name; null and empty when caching is off.
  WorkflowCache* cache = nullptr;
  std::string sticky_queue;

  void Metric(const std::string& name, double value, const std::string& type) const {
    if (options.metrics) options.metrics({name, value, type});
  }

  /// The labels every worker metric carries, then `extra`.
  MetricLabels Labels(MetricLabels extra = {}) const {
    MetricLabels labels{{"namespace", options.namespace_name}, {"task_queue", options.task_queue}};
    labels.insert(labels.end(), extra.begin(), extra.end());
    return labels;
  }
  /// An official SDK metric (metrics_handler.h), when the worker has a handler.
  void Count(std::string_view name, const MetricLabels& labels, double value = 1) const {
    if (options.metrics_handler) options.metrics_handler->Count(name, labels, value);
  }
  void Latency(std::string_view name, const MetricLabels& labels, double ms) const {
    if (options.metrics_handler) options.metrics_handler->RecordMilliseconds(name, labels, ms);
  }
};

/// The task's full history: the first page plus GetWorkflowExecutionHistory
/// pages (following the poll's token), checked for contiguity.
arrow::Result<HistoryEvents> FetchFullHistory(
    const HandlerEnv& env, const ::temporal::api::workflowservice::v1::PollWorkflowTaskQueueResponse& task);

/// History from event 1 for a task whose history is partial (a sticky task
/// on a cache miss): all persisted pages, then the task's own events that
/// are newer (its transient workflow task events), checked for contiguity.
arrow::Result<HistoryEvents> FetchHistoryFromStart(
    const HandlerEnv& env, const ::temporal::api::workflowservice::v1::PollWorkflowTaskQueueResponse& task);

/// Answers one workflow task from the cached run or by replay (completion, failure or legacy
/// query answer). RPC errors are logged; nothing is retried.
void HandleWorkflowTask(const HandlerEnv& env,
                        const ::temporal::api::workflowservice::v1::PollWorkflowTaskQueueResponse& task);

/// Runs one activity attempt and reports its outcome. `register_running`
/// is told about the attempt's context while it runs (for shutdown).
void HandleActivityTask(const HandlerEnv& env,
                        const ::temporal::api::workflowservice::v1::PollActivityTaskQueueResponse& task,
                        const std::function<void(ActivityContext*, bool running)>& register_running);

}  // namespace flightdeck::temporal::internal
