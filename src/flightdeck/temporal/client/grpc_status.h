// flightdeck/temporal/client/grpc_status.h: gRPC statuses as arrow::Status.
//
// Arrow's status codes are coarser than gRPC's, so the exact gRPC code (and
// the raw `grpc-status-details-bin` trailer, which carries Temporal's typed
// failures such as WorkflowExecutionAlreadyStartedFailure) travel in a
// StatusDetail, the way arrow/flight attaches FlightStatusDetail.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <arrow/status.h>
#include <grpcpp/support/status.h>

namespace flightdeck::temporal {

/// The gRPC side of a failed Temporal RPC.
class GrpcStatusDetail : public arrow::StatusDetail {
 public:
  static constexpr char kTypeId[] = "flightdeck::temporal::GrpcStatusDetail";

  GrpcStatusDetail(grpc::StatusCode code, std::string error_details)
      : code_(code), error_details_(std::move(error_details)) {}

  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override;

  grpc::StatusCode code() const { return code_; }
  /// Serialized google.rpc.Status from the trailer; empty when absent.
  const std::string& error_details() const { return error_details_; }

 private:
  grpc::StatusCode code_;
  std::string error_details_;
};

/// Converts a gRPC status returned by `rpc` (its name, for the message).
/// OK stays OK. The Arrow code is the nearest match (NOT_FOUND -> KeyError,
/// INVALID_ARGUMENT -> Invalid, ALREADY_EXISTS -> AlreadyExists,
/// RESOURCE_EXHAUSTED -> CapacityError, CANCELLED -> Cancelled,
/// UNIMPLEMENTED -> NotImplemented, everything else -> IOError).
arrow::Status FromGrpcStatus(const grpc::Status& status, std::string_view rpc);

/// The gRPC code carried by a status made by FromGrpcStatus, if any.
std::optional<grpc::StatusCode> GrpcCodeOf(const arrow::Status& status);

/// Name of a gRPC code, e.g. "UNAVAILABLE".
std::string_view GrpcCodeName(grpc::StatusCode code);

}  // namespace flightdeck::temporal
