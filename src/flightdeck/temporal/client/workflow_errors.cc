#include "flightdeck/temporal/client/workflow_errors.h"

#include "flightdeck/temporal/client/grpc_status.h"
#include "google/rpc/status.pb.h"

namespace flightdeck::temporal {

namespace failure_v1 = ::temporal::api::failure::v1;
namespace errordetails = ::temporal::api::errordetails::v1;

std::string_view WorkflowFailureKindName(WorkflowFailureKind kind) {
  switch (kind) {
    case WorkflowFailureKind::kFailed: return "failed";
    case WorkflowFailureKind::kCanceled: return "canceled";
    case WorkflowFailureKind::kTerminated: return "terminated";
    case WorkflowFailureKind::kTimedOut: return "timed out";
  }
  return "unknown";
}

std::string WorkflowFailureDetail::ToString() const {
  return "workflow " + workflow_id_ + " (run " + run_id_ + ") " +
         std::string(WorkflowFailureKindName(kind_));
}

const WorkflowFailureDetail* WorkflowFailureOf(const arrow::Status& status) {
  const auto& detail = status.detail();
  if (!detail || std::string_view(detail->type_id()) != WorkflowFailureDetail::kTypeId) {
    return nullptr;
  }
  return static_cast<const WorkflowFailureDetail*>(detail.get());
}

bool UnpackErrorDetail(const arrow::Status& status, google::protobuf::Message* out) {
  const auto& detail = status.detail();
  if (!detail || std::string_view(detail->type_id()) != GrpcStatusDetail::kTypeId) return false;
  const std::string& trailer = static_cast<const GrpcStatusDetail&>(*detail).error_details();
  if (trailer.empty()) return false;
  google::rpc::Status rpc_status;
  if (!rpc_status.ParseFromString(trailer)) return false;
  for (const auto& any : rpc_status.details()) {
    if (any.type_url().ends_with("/" + out->GetDescriptor()->full_name())) {
      if (any.UnpackTo(out)) return true;
    }
  }
  return false;
}

std::optional<errordetails::WorkflowExecutionAlreadyStartedFailure> AlreadyStartedFailureOf(
    const arrow::Status& status) {
  errordetails::WorkflowExecutionAlreadyStartedFailure failure;
  if (!UnpackErrorDetail(status, &failure)) return std::nullopt;
  return failure;
}

std::optional<errordetails::QueryFailedFailure> QueryFailedOf(const arrow::Status& status) {
  errordetails::QueryFailedFailure failure;
  if (!UnpackErrorDetail(status, &failure)) return std::nullopt;
  return failure;
}

std::string DescribeFailure(const failure_v1::Failure& failure) {
  std::string out;
  const failure_v1::Failure* current = &failure;
  for (int depth = 0; current != nullptr && depth < 16; ++depth) {
    if (!out.empty()) out += "; caused by ";
    if (current->has_application_failure_info() &&
        !current->application_failure_info().type().empty()) {
      out += current->application_failure_info().type() + ": ";
    }
    out += current->message();
    if (current->has_application_failure_info() &&
        current->application_failure_info().non_retryable()) {
      out += " (non-retryable)";
    }
    current = current->has_cause() ? &current->cause() : nullptr;
  }
  return out;
}

}  // namespace flightdeck::temporal
