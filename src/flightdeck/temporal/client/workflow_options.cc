#include "flightdeck/temporal/client/workflow_options.h"

namespace flightdeck::temporal {

const char* SearchAttributeTypeName(SearchAttributeType type) {
  switch (type) {
    case SearchAttributeType::kKeyword: return "Keyword";
    case SearchAttributeType::kText: return "Text";
    case SearchAttributeType::kInt: return "Int";
    case SearchAttributeType::kDouble: return "Double";
    case SearchAttributeType::kBool: return "Bool";
    case SearchAttributeType::kDatetime: return "Datetime";
    case SearchAttributeType::kKeywordList: return "KeywordList";
  }
  return "Unspecified";
}

arrow::Result<Payload> SearchAttributePayload(SearchAttributeType type,
                                              const nlohmann::json& value) {
  bool fits = false;
  switch (type) {
    case SearchAttributeType::kKeyword:
    case SearchAttributeType::kText:
    case SearchAttributeType::kDatetime:  // RFC 3339 text
      fits = value.is_string();
      break;
    case SearchAttributeType::kInt: fits = value.is_number_integer(); break;
    case SearchAttributeType::kDouble: fits = value.is_number(); break;
    case SearchAttributeType::kBool: fits = value.is_boolean(); break;
    case SearchAttributeType::kKeywordList:
      fits = value.is_array();
      for (const auto& item : value) fits = fits && item.is_string();
      break;
  }
  if (!fits) {
    return arrow::Status::Invalid("search attribute value ", value.dump(), " is not a ",
                                  SearchAttributeTypeName(type));
  }
  ARROW_ASSIGN_OR_RAISE(Payload payload, ToPayload(value));
  (*payload.mutable_metadata())["type"] = SearchAttributeTypeName(type);
  return payload;
}

arrow::Status ValidateStartWorkflowOptions(const StartWorkflowOptions& options) {
  if (options.id.empty()) return arrow::Status::Invalid("workflow id is empty");
  if (options.type.empty()) {
    return arrow::Status::Invalid("workflow type of workflow ", options.id, " is empty");
  }
  if (options.task_queue.empty()) {
    return arrow::Status::Invalid("task queue of workflow ", options.id, " is empty");
  }
  auto negative = [&](std::chrono::milliseconds value, const char* name) {
    return value.count() < 0 ? arrow::Status::Invalid(name, " of workflow ", options.id,
                                                      " is negative (", value.count(), " ms)")
                             : arrow::Status::OK();
  };
  ARROW_RETURN_NOT_OK(negative(options.execution_timeout, "execution_timeout"));
  ARROW_RETURN_NOT_OK(negative(options.run_timeout, "run_timeout"));
  ARROW_RETURN_NOT_OK(negative(options.task_timeout, "task_timeout"));
  ARROW_RETURN_NOT_OK(negative(options.start_delay, "start_delay"));
  if (options.retry_policy) {
    const RetryPolicy& policy = *options.retry_policy;
    ARROW_RETURN_NOT_OK(negative(policy.initial_interval, "retry_policy.initial_interval"));
    ARROW_RETURN_NOT_OK(negative(policy.maximum_interval, "retry_policy.maximum_interval"));
    if (policy.backoff_coefficient != 0 && policy.backoff_coefficient < 1) {
      return arrow::Status::Invalid("retry_policy.backoff_coefficient of workflow ", options.id,
                                    " is ", policy.backoff_coefficient, ", must be >= 1");
    }
    if (policy.maximum_attempts < 0) {
      return arrow::Status::Invalid("retry_policy.maximum_attempts of workflow ", options.id,
                                    " is negative");
    }
  }
  if (!options.cron_schedule.empty() && options.start_delay.count() > 0) {
    return arrow::Status::Invalid("workflow ", options.id,
                                  " cannot have both a cron schedule and a start delay");
  }
  for (const auto& [key, value] : options.search_attributes) {
    if (value.metadata().find("type") == value.metadata().end()) {
      return arrow::Status::Invalid("search attribute ", key, " of workflow ", options.id,
                                    " has no \"type\" metadata (use SearchAttributePayload)");
    }
  }
  return arrow::Status::OK();
}

}  // namespace flightdeck::temporal
