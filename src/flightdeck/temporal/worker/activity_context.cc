#include "flightdeck/temporal/worker/activity_context.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

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
  CodecChain codecs;
  std::atomic<bool> cancelled{false};

  std::mutex mutex;
  std::condition_variable changed;
  std::chrono::steady_clock::time_point next_send{};  // guarded by mutex
  Payloads pending;                                    // guarded by mutex
  bool has_pending = false;                            // guarded by mutex
  bool closing = false;                                // guarded by mutex
  // Sends throttled details once the interval ends, so a heartbeat is never
  // held back longer than the throttle interval. Started on first need.
  std::thread flusher;

  std::chrono::milliseconds Interval() const {
    auto timeout = info.heartbeat_timeout.count() > 0 ? info.heartbeat_timeout
                                                      : std::chrono::milliseconds(30000);
    return std::min(timeout, std::chrono::milliseconds(60000)) * 4 / 5;
  }

  // REQUIRES: `lock` holds mutex and has_pending. Releases it for the RPC.
  void Send(std::unique_lock<std::mutex>& lock);
  void FlushLoop();
};

void ActivityContext::Impl::Send(std::unique_lock<std::mutex>& lock) {
  next_send = std::chrono::steady_clock::now() + Interval();
  wsv1::RecordActivityTaskHeartbeatRequest request;
  request.set_task_token(task_token);
  request.set_namespace_(info.namespace_name);
  request.set_identity(identity);
  *request.mutable_details() = pending;
  has_pending = false;
  lock.unlock();
  if (auto encoded = codecs.Encode(request.mutable_details()); !encoded.ok()) {
    FD_LOG(kWarning) << "heartbeat of activity " << info.activity_id << " not sent: " << encoded.ToString();
    return;
  }

  wsv1::RecordActivityTaskHeartbeatResponse response;
  auto context = connection->NewContext(info.namespace_name);
  grpc::Status status = connection->workflow_service().RecordActivityTaskHeartbeat(context.get(), request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    cancelled.store(true);  // the attempt is gone
  } else if (!status.ok()) {
    FD_LOG(kWarning) << "heartbeat of activity " << info.activity_id << " failed: "
                     << FromGrpcStatus(status, "RecordActivityTaskHeartbeat").ToString();
  } else if (response.cancel_requested() || response.activity_paused() || response.activity_reset()) {
    cancelled.store(true);
  }
}

void ActivityContext::Impl::FlushLoop() {
  std::unique_lock<std::mutex> lock(mutex);
  while (!closing) {
    if (has_pending && std::chrono::steady_clock::now() >= next_send) {
      Send(lock);
      lock.lock();
      continue;
    }
    if (has_pending) {
      changed.wait_until(lock, next_send);
    } else {
      changed.wait(lock);
    }
  }
}

ActivityContext::ActivityContext(std::shared_ptr<Connection> connection, std::string identity,
                                 std::string task_token, ActivityInfo info, CodecChain codecs)
    : impl_(std::make_unique<Impl>()) {
  impl_->codecs = std::move(codecs);
  impl_->connection = std::move(connection);
  impl_->identity = std::move(identity);
  impl_->task_token = std::move(task_token);
  impl_->info = std::move(info);
}

ActivityContext::~ActivityContext() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->closing = true;
  }
  impl_->changed.notify_all();
  if (impl_->flusher.joinable()) impl_->flusher.join();
}

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
  if (std::chrono::steady_clock::now() >= impl_->next_send) {
    impl_->Send(lock);
    return;
  }
  if (!impl_->flusher.joinable()) impl_->flusher = std::thread([impl = impl_.get()] { impl->FlushLoop(); });
  impl_->changed.notify_all();
}

}  // namespace flightdeck::temporal
