// flightdeck/temporal/converter/failure.h: arrow::Status <-> Temporal Failure.
//
// Activities and workflows report errors as arrow::Status. On the wire those
// become `temporal.api.failure.v1.Failure` protos, and failures coming back
// (an activity that failed, a child that timed out) become Status again with
// the original Failure attached as a FailureDetail, so code can inspect the
// error type, the non-retryable flag and the cause chain.
//
//   return ApplicationError("CardDeclined", "card 42 declined", /*non_retryable=*/true);
//   ...
//   auto result = co_await ctx.ExecuteActivity<int>("Charge", opts, card);
//   if (ApplicationErrorType(result.status()) == "CardDeclined") { ... }
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/status.h>

#include "temporal/api/failure/v1/message.pb.h"

namespace flightdeck::temporal {

using Failure = ::temporal::api::failure::v1::Failure;

/// Value of Failure.source for failures made here.
inline constexpr char kFailureSource[] = "CppSDK";

/// Carries a Temporal Failure inside an arrow::Status. Immutable.
class FailureDetail : public arrow::StatusDetail {
 public:
  static constexpr char kTypeId[] = "flightdeck::temporal::FailureDetail";
  explicit FailureDetail(Failure failure) : failure_(std::move(failure)) {}
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override;
  const Failure& failure() const { return failure_; }

 private:
  Failure failure_;
};

/// An application error: becomes `application_failure_info{type,
/// non_retryable}` with `message`. `type` names the error class (as Python
/// uses the exception class name); matched exactly against a retry policy's
/// non_retryable_error_types. The Status code is Invalid when non-retryable,
/// otherwise ExecutionError.
arrow::Status ApplicationError(std::string type, std::string message, bool non_retryable = false);

/// The Failure attached to `status` (from ApplicationError or FailureToStatus);
/// nullptr when there is none. Valid as long as `status`.
const Failure* FailureOf(const arrow::Status& status);

/// Converts any non-OK Status to a Failure. Statuses carrying a FailureDetail
/// give that Failure; Cancelled gives canceled_failure_info; everything else
/// an application failure whose type is the Arrow code name (e.g. "IOError").
/// REQUIRES: !status.ok().
Failure StatusToFailure(const arrow::Status& status);

/// Converts a Failure to a Status that carries it. The code follows the
/// innermost meaningful cause: canceled -> Cancelled, timeout -> IOError with
/// "timed out" in the message, non-retryable application failure -> Invalid,
/// other failures -> ExecutionError. The message joins the failure chain
/// ("Activity task failed: card 42 declined").
arrow::Status FailureToStatus(const Failure& failure);

/// The first application_failure_info.type along the cause chain of the
/// status' Failure, or "" when there is none.
std::string ApplicationErrorType(const arrow::Status& status);

/// True when the status' Failure chain contains a timeout failure.
bool IsTimeout(const arrow::Status& status);

}  // namespace flightdeck::temporal
