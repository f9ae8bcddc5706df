// flightdeck/temporal/workflow/options.h: plain option structs for the calls
// a workflow makes (activities, children, continue-as-new) and the read-only
// facts about the running workflow.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace flightdeck::temporal::workflow {

using Duration = std::chrono::milliseconds;

/// Server-side retry policy. Zero / empty fields take the server defaults
/// (1 s initial interval, coefficient 2.0, maximum 100 x initial, unlimited
/// attempts). maximum_attempts = 1 means no retries.
struct RetryPolicy {
  Duration initial_interval{0};
  double backoff_coefficient = 0;
  Duration maximum_interval{0};
  int32_t maximum_attempts = 0;
  /// Application error types (exact match) that are never retried.
  std::vector<std::string> non_retryable_error_types;
};

/// What cancelling an activity waits for.
enum class ActivityCancellationType {
  /// Request cancellation and resolve the activity as Cancelled at once.
  kTryCancel,
  /// Request cancellation and resolve when the activity acknowledges it (or
  /// finishes some other way).
  kWaitCancellationCompleted,
  /// Resolve as Cancelled at once without telling the server.
  kAbandon,
};

/// Options of one activity invocation. At least one of
/// schedule_to_close_timeout and start_to_close_timeout must be set.
struct ActivityOptions {
  /// Task queue of the activity worker; empty = the workflow's task queue.
  std::string task_queue;
  Duration schedule_to_close_timeout{0};
  Duration schedule_to_start_timeout{0};
  Duration start_to_close_timeout{0};
  /// 0 = no heartbeat timeout.
  Duration heartbeat_timeout{0};
  std::optional<RetryPolicy> retry_policy;
  ActivityCancellationType cancellation_type = ActivityCancellationType::kTryCancel;
  /// Empty = the next deterministic id ("1", "2", ...).
  std::string activity_id;
};

/// What happens to a child when its parent closes.
enum class ParentClosePolicy { kTerminate, kAbandon, kRequestCancel };

/// Options of one child workflow.
struct ChildWorkflowOptions {
  /// Empty = "<parent workflow id>/child-<n>", deterministic.
  std::string workflow_id;
  /// Empty = the parent's task queue.
  std::string task_queue;
  Duration workflow_execution_timeout{0};
  Duration workflow_run_timeout{0};
  Duration workflow_task_timeout{0};
  ParentClosePolicy parent_close_policy = ParentClosePolicy::kTerminate;
  std::optional<RetryPolicy> retry_policy;
};

/// Options of continue-as-new. Empty fields keep the current run's values.
struct ContinueAsNewOptions {
  std::string workflow_type;
  std::string task_queue;
  Duration workflow_run_timeout{0};
  Duration workflow_task_timeout{0};
};

/// Facts about the running workflow, fixed for the whole run.
struct WorkflowInfo {
  std::string namespace_name;
  std::string workflow_id;
  std::string run_id;
  std::string workflow_type;
  std::string task_queue;
  int32_t attempt = 1;
  std::string first_execution_run_id;
  std::string original_execution_run_id;
  /// Run this one continued from; empty for a first run.
  std::string continued_execution_run_id;
  /// Set for child workflows.
  std::string parent_workflow_id;
  std::string parent_run_id;
};

}  // namespace flightdeck::temporal::workflow
