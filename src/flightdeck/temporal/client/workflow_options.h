// flightdeck/temporal/client/workflow_options.h: what the Client needs to
// start a workflow, and the handle it returns.
//
//   StartWorkflowOptions options{.id = "order-42", .type = "ProcessOrder",
//                                .task_queue = "orders"};
//   options.execution_timeout = std::chrono::minutes(10);
//   options.retry_policy = RetryPolicy{.maximum_attempts = 3};
//   ARROW_ASSIGN_OR_RAISE(options.search_attributes["CustomerId"],
//                         SearchAttributePayload(SearchAttributeType::kKeyword, "c-7"));
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>
#include <nlohmann/json.hpp>

#include "flightdeck/temporal/converter/payload_converter.h"
#include "temporal/api/common/v1/message.pb.h"
#include "temporal/api/enums/v1/workflow.pb.h"

namespace flightdeck::temporal {

/// A server-side retry policy (workflow retries); see the protocol doc,
/// section 6. Zero durations and attempts mean "server default".
struct RetryPolicy {
  std::chrono::milliseconds initial_interval{0};
  double backoff_coefficient = 0;
  std::chrono::milliseconds maximum_interval{0};
  /// 0 = unlimited, 1 = no retries.
  int32_t maximum_attempts = 0;
  /// Failure types (exact ApplicationFailure type names) that end retrying.
  std::vector<std::string> non_retryable_error_types;
};

/// Indexed types of search attributes, as the server names them.
enum class SearchAttributeType { kKeyword, kText, kInt, kDouble, kBool, kDatetime, kKeywordList };

/// "Keyword", "Text", "Int", "Double", "Bool", "Datetime", "KeywordList".
const char* SearchAttributeTypeName(SearchAttributeType type);

/// A search attribute value: json/plain with metadata "type" naming the
/// indexed type, the form every SDK writes (never passed through a codec).
/// Fails with Invalid when `value` does not fit `type` (e.g. a string for
/// kInt, a non-array for kKeywordList).
arrow::Result<Payload> SearchAttributePayload(SearchAttributeType type,
                                              const nlohmann::json& value);

/// Everything a start (or signal-with-start) needs. `id`, `type` and
/// `task_queue` are required; every other field is optional, and an unset
/// (zero / empty) field leaves the server's default.
struct StartWorkflowOptions {
  /// Workflow id (business key).
  std::string id;
  /// Workflow type name the worker registered.
  std::string type;
  std::string task_queue;

  /// Whole chain including retries and continue-as-new.
  std::chrono::milliseconds execution_timeout{0};
  /// One run.
  std::chrono::milliseconds run_timeout{0};
  /// One workflow task (server default 10 s).
  std::chrono::milliseconds task_timeout{0};
  /// Delay before the first workflow task is dispatched.
  std::chrono::milliseconds start_delay{0};

  /// Reuse of an id whose last run is closed (default ALLOW_DUPLICATE).
  ::temporal::api::enums::v1::WorkflowIdReusePolicy id_reuse_policy =
      ::temporal::api::enums::v1::WORKFLOW_ID_REUSE_POLICY_UNSPECIFIED;
  /// Conflict with a running run (default FAIL for a start, USE_EXISTING for
  /// signal-with-start, where FAIL is invalid).
  ::temporal::api::enums::v1::WorkflowIdConflictPolicy id_conflict_policy =
      ::temporal::api::enums::v1::WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED;

  std::optional<RetryPolicy> retry_policy;
  /// Cron spec, e.g. "*/5 * * * *"; empty = none.
  std::string cron_schedule;

  /// Memo values (any payloads; they go through the client's codec chain).
  std::map<std::string, Payload> memo;
  /// Search attributes, made with SearchAttributePayload (no codec).
  std::map<std::string, Payload> search_attributes;
  /// Header fields for context propagation (no codec, as Python's default).
  std::map<std::string, Payload> header;

  /// Deduplication key of this logical start. Empty: the Client generates a
  /// UUIDv4 once per call and reuses it on every transport retry. Set it to
  /// make your own retries (e.g. after a crash) idempotent.
  std::string request_id;
};

/// Checks the required fields and value ranges. Invalid names the field.
arrow::Status ValidateStartWorkflowOptions(const StartWorkflowOptions& options);

/// Identifies a workflow execution. Plain data; copy freely.
struct WorkflowHandle {
  std::string workflow_id;
  /// The run this handle addresses. Empty: calls address the current run of
  /// workflow_id.
  std::string run_id;
  /// False when a start returned an already running run (USE_EXISTING
  /// conflict policy or signal-with-start on a running workflow).
  bool started = true;

  bool operator==(const WorkflowHandle&) const = default;
};

}  // namespace flightdeck::temporal
