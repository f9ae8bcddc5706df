#include "flightdeck/temporal/client/grpc_status.h"

#include <memory>

namespace flightdeck::temporal {

std::string GrpcStatusDetail::ToString() const {
  return "gRPC " + std::string(GrpcCodeName(code_));
}

std::string_view GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    default: return "UNRECOGNIZED";
  }
}

arrow::Status FromGrpcStatus(const grpc::Status& status, std::string_view rpc) {
  if (status.ok()) return arrow::Status::OK();
  arrow::StatusCode code;
  switch (status.error_code()) {
    case grpc::StatusCode::NOT_FOUND: code = arrow::StatusCode::KeyError; break;
    case grpc::StatusCode::INVALID_ARGUMENT: code = arrow::StatusCode::Invalid; break;
    case grpc::StatusCode::ALREADY_EXISTS: code = arrow::StatusCode::AlreadyExists; break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: code = arrow::StatusCode::CapacityError; break;
    case grpc::StatusCode::CANCELLED: code = arrow::StatusCode::Cancelled; break;
    case grpc::StatusCode::UNIMPLEMENTED: code = arrow::StatusCode::NotImplemented; break;
    default: code = arrow::StatusCode::IOError; break;
  }
  return arrow::Status(code,
                       std::string(rpc) + ": " + std::string(GrpcCodeName(status.error_code())) +
                           ": " + status.error_message(),
                       std::make_shared<GrpcStatusDetail>(status.error_code(),
                                                          status.error_details()));
}

std::optional<grpc::StatusCode> GrpcCodeOf(const arrow::Status& status) {
  const auto& detail = status.detail();
  if (!detail || std::string_view(detail->type_id()) != GrpcStatusDetail::kTypeId) {
    return std::nullopt;
  }
  return static_cast<const GrpcStatusDetail&>(*detail).code();
}

}  // namespace flightdeck::temporal
