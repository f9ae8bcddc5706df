#include "flightdeck/temporal/converter/failure.h"

namespace flightdeck::temporal {

namespace {

const Failure* FindInChain(const Failure& failure, bool (*pred)(const Failure&)) {
  const Failure* current = &failure;
  for (int depth = 0; current != nullptr && depth < 64; ++depth) {
    if (pred(*current)) return current;
    current = current->has_cause() ? &current->cause() : nullptr;
  }
  return nullptr;
}

bool IsApplication(const Failure& f) { return f.has_application_failure_info(); }
bool IsCanceled(const Failure& f) { return f.has_canceled_failure_info(); }
bool IsTimeoutFailure(const Failure& f) { return f.has_timeout_failure_info(); }

}  // namespace

std::string FailureDetail::ToString() const {
  std::string out = failure_.message();
  if (failure_.has_application_failure_info()) {
    out += " (type " + failure_.application_failure_info().type() + ")";
  }
  return out;
}

arrow::Status ApplicationError(std::string type, std::string message, bool non_retryable) {
  Failure failure;
  failure.set_message(message);
  failure.set_source(kFailureSource);
  auto* info = failure.mutable_application_failure_info();
  info->set_type(std::move(type));
  info->set_non_retryable(non_retryable);
  auto detail = std::make_shared<FailureDetail>(std::move(failure));
  return arrow::Status(non_retryable ? arrow::StatusCode::Invalid : arrow::StatusCode::ExecutionError,
                       std::move(message), std::move(detail));
}

const Failure* FailureOf(const arrow::Status& status) {
  const auto& detail = status.detail();
  if (detail == nullptr || std::string_view(detail->type_id()) != FailureDetail::kTypeId) {
    return nullptr;
  }
  return &static_cast<const FailureDetail&>(*detail).failure();
}

Failure StatusToFailure(const arrow::Status& status) {
  if (const Failure* attached = FailureOf(status)) return *attached;
  Failure failure;
  failure.set_message(status.message());
  failure.set_source(kFailureSource);
  if (status.IsCancelled()) {
    failure.mutable_canceled_failure_info();
  } else {
    failure.mutable_application_failure_info()->set_type(status.CodeAsString());
  }
  return failure;
}

arrow::Status FailureToStatus(const Failure& failure) {
  std::string message;
  for (const Failure* f = &failure; f != nullptr; f = f->has_cause() ? &f->cause() : nullptr) {
    if (!message.empty()) message += ": ";
    message += f->message();
  }
  arrow::StatusCode code = arrow::StatusCode::ExecutionError;
  if (FindInChain(failure, IsCanceled) != nullptr) {
    code = arrow::StatusCode::Cancelled;
  } else if (FindInChain(failure, IsTimeoutFailure) != nullptr) {
    code = arrow::StatusCode::IOError;
    message += " (timed out)";
  } else if (const Failure* app = FindInChain(failure, IsApplication);
             app != nullptr && app->application_failure_info().non_retryable()) {
    code = arrow::StatusCode::Invalid;
  }
  return arrow::Status(code, std::move(message), std::make_shared<FailureDetail>(failure));
}

std::string ApplicationErrorType(const arrow::Status& status) {
  const Failure* failure = FailureOf(status);
  if (failure == nullptr) return "";
  const Failure* app = FindInChain(*failure, IsApplication);
  return app == nullptr ? "" : app->application_failure_info().type();
}

bool IsTimeout(const arrow::Status& status) {
  const Failure* failure = FailureOf(status);
  return failure != nullptr && FindInChain(*failure, IsTimeoutFailure) != nullptr;
}

}  // namespace flightdeck::temporal
