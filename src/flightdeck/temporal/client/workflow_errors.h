// flightdeck/temporal/client/workflow_errors.h: typed errors of the Client.
//
// Two families:
// - RPC errors: an arrow::Status from FromGrpcStatus carries a
//   GrpcStatusDetail with the gRPC code and the `grpc-status-details-bin`
//   trailer. The trailer is a google.rpc.Status whose details[0] is one of
//   Temporal's errordetails messages; UnpackErrorDetail and the helpers below
//   read it (e.g. the run id of an already started workflow).
// - Workflow outcomes: GetResult reports a workflow that failed, was
//   canceled, terminated or timed out with a WorkflowFailureDetail holding the
//   Temporal Failure proto, so callers can inspect type, message and
//   non_retryable.
//
//   auto started = client->StartWorkflow(options, args);
//   if (auto already = AlreadyStartedFailureOf(started.status())) {
//     use(already->run_id());
//   }
//   auto result = client->GetResult(handle);
//   if (const WorkflowFailureDetail* failure = WorkflowFailureOf(result.status())) {
//     if (failure->kind() == WorkflowFailureKind::kFailed) log(failure->failure().message());
//   }
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <arrow/status.h>
#include <google/protobuf/message.h>

#include "temporal/api/enums/v1/workflow.pb.h"
#include "temporal/api/errordetails/v1/message.pb.h"
#include "temporal/api/failure/v1/message.pb.h"

namespace flightdeck::temporal {

/// How a workflow run ended without a result.
enum class WorkflowFailureKind { kFailed, kCanceled, kTerminated, kTimedOut };

/// "failed", "canceled", "terminated", "timed out".
std::string_view WorkflowFailureKindName(WorkflowFailureKind kind);

/// Attached by Client::GetResult to the status of a run that did not
/// complete. The Arrow code is Cancelled for kCanceled and ExecutionError for
/// the others; the status carries no gRPC code (the RPCs succeeded).
class WorkflowFailureDetail : public arrow::StatusDetail {
 public:
  static constexpr char kTypeId[] = "flightdeck::temporal::WorkflowFailureDetail";

  WorkflowFailureDetail(WorkflowFailureKind kind, std::string workflow_id, std::string run_id,
                        ::temporal::api::failure::v1::Failure failure,
                        ::temporal::api::enums::v1::RetryState retry_state)
      : kind_(kind),
        workflow_id_(std::move(workflow_id)),
        run_id_(std::move(run_id)),
        failure_(std::move(failure)),
        retry_state_(retry_state) {}

  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override;

  WorkflowFailureKind kind() const { return kind_; }
  const std::string& workflow_id() const { return workflow_id_; }
  /// The run that ended this way (the last one followed); empty when the
  /// handle addressed the current run and no other run was followed.
  const std::string& run_id() const { return run_id_; }
  /// kFailed: the workflow's failure (application_failure_info holds type,
  /// non_retryable and codec-decoded details). kCanceled: a failure with
  /// canceled_failure_info{details}. kTerminated: message = the reason,
  /// terminated_failure_info, and, when the terminator gave details, a cause
  /// whose application_failure_info.details holds them. kTimedOut:
  /// timeout_failure_info{TIMEOUT_TYPE_START_TO_CLOSE}.
  const ::temporal::api::failure::v1::Failure& failure() const { return failure_; }
  /// For kFailed and kTimedOut: why the server did not retry the workflow.
  ::temporal::api::enums::v1::RetryState retry_state() const { return retry_state_; }

 private:
  WorkflowFailureKind kind_;
  std::string workflow_id_;
  std::string run_id_;
  ::temporal::api::failure::v1::Failure failure_;
  ::temporal::api::enums::v1::RetryState retry_state_;
};

/// The WorkflowFailureDetail of `status`, or nullptr. The pointer lives as
/// long as `status` (or a copy of it).
const WorkflowFailureDetail* WorkflowFailureOf(const arrow::Status& status);

/// Parses the google.rpc.Status in the gRPC trailer of `status` and unpacks
/// its first detail of `out`'s message type into `out`. False when `status`
/// has no GrpcStatusDetail, no trailer, or no detail of that type.
bool UnpackErrorDetail(const arrow::Status& status, google::protobuf::Message* out);

/// The WorkflowExecutionAlreadyStartedFailure (ALREADY_EXISTS) of a failed
/// start, holding the running workflow's run_id and start_request_id.
std::optional<::temporal::api::errordetails::v1::WorkflowExecutionAlreadyStartedFailure>
AlreadyStartedFailureOf(const arrow::Status& status);

/// The QueryFailedFailure (INVALID_ARGUMENT) of a failed query: the failure
/// the workflow's query handler raised.
std::optional<::temporal::api::errordetails::v1::QueryFailedFailure> QueryFailedOf(
    const arrow::Status& status);

/// "Type: message" of a Failure and of its causes, joined by "; caused by ".
std::string DescribeFailure(const ::temporal::api::failure::v1::Failure& failure);

}  // namespace flightdeck::temporal
