#include "flightdeck/temporal/worker/activity_context.h"

#include <atomic>
#include <mutex>

#include <grpcpp/client_context.h>

#include "flightdeck/common/logging.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/client/grpc_status.h"

namespace flightdeck::temporal {

namespace wsv1 = ::temporal::api::workflowservice::v1;

struct ActivityContext::Impl {
  std::shared_ptr<Connection> connection;
  std::string identity;
  std::string task_token;
  ActivityInfo info;
  std::atomic<bool> cancelled{false};
  std::mutex mutex;
  std::chrono::steady_clock::time_point next_send{};  // guarded by mutex
  Payloads pending;                                    // guarded by mutex
  bool has_pending = false;                            // guarded by mutex
};

ActivityContext::ActivityContext(std::shared_ptr<Connection> connection, std::string identity,
                                 std::string task_token, ActivityInfo info)
    : impl_(std::make_unique<Impl>()) {
  impl_->connection = std::move(connection);
  impl_->identity = std::move(identity);
  impl_->task_token = std::move(task_token);
  impl_->info = std::move(info);
}

ActivityContext::~ActivityContext() = default;

const ActivityInfo& ActivityContext::info() const { return impl_->info; }
bool ActivityContext::IsCancelled() const { return impl_->cancelled.load(); }
void ActivityContext::MarkCancelled() { impl_->cancelled.store(true); }
const std::string& ActivityContext::task_token() const { return impl_->task_token; }

Payloads ActivityContext::PendingDetails() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->pending;
}

void ActivityContext::HeartbeatRaw(Payloads details) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  impl_->pending = std::move(details);
  impl_->has_pending = true;
  const auto now = std::chrono::steady_clock::now();
  if (now < impl_->next_send) return;
  auto timeout = impl_->info.heartbeat_timeout.count() > 0 ? impl_->info.heartbeat_timeout
                                                           : std::chrono::milliseconds(30000);
  timeout = std::min(timeout, std::chrono::milliseconds(60000));
  impl_->next_send = now + timeout * 4 / 5;

  wsv1::RecordActivityTaskHeartbeatRequest request;
  request.set_task_token(impl_->task_token);
  request.set_namespace_(impl_->info.namespace_name);
  request.set_identity(impl_->identity);
  *request.mutable_details() = impl_->pending;
  impl_->has_pending = false;
  lock.unlock();

  wsv1::RecordActivityTaskHeartbeatResponse response;
  auto context = impl_->connection->NewContext(impl_->info.namespace_name);
  grpc::Status status =
      impl_->connection->workflow_service().RecordActivityTaskHeartbeat(context.get(), request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    MarkCancelled();  // the attempt is gone
  } else if (!status.ok()) {
    FD_LOG(kWarning) << "heartbeat of activity " << impl_->info.activity_id << " failed: "
                     << FromGrpcStatus(status, "RecordActivityTaskHeartbeat").ToString();
  } else if (response.cancel_requested() || response.activity_paused() || response.activity_reset()) {
    MarkCancelled();
  }
}

}  // namespace flightdeck::temporal
