#include "flightdeck/temporal/worker/internal/sticky_resetter.h"

#include <grpcpp/client_context.h>

#include "flightdeck/common/logging.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/client/grpc_status.h"

namespace flightdeck::temporal::internal {

namespace wsv1 = ::temporal::api::workflowservice::v1;

StickyResetter::StickyResetter(const HandlerEnv* env) : env_(env), thread_([this] { Loop(); }) {}

StickyResetter::~StickyResetter() { Stop(); }

void StickyResetter::Enqueue(std::string workflow_id, std::string run_id, std::string workflow_type) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return;
  queue_.push_back({std::move(workflow_id), std::move(run_id), std::move(workflow_type)});
  ready_.notify_one();
}

void StickyResetter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    queue_.clear();
    ready_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void StickyResetter::Loop() {
  while (true) {
    Run run;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      run = std::move(queue_.front());
      queue_.pop_front();
    }
    wsv1::ResetStickyTaskQueueRequest request;
    request.set_namespace_(env_->options.namespace_name);
    request.mutable_execution()->set_workflow_id(run.workflow_id);
    request.mutable_execution()->set_run_id(run.run_id);
    wsv1::ResetStickyTaskQueueResponse response;
    auto context = env_->connection->NewContext(env_->options.namespace_name, std::chrono::seconds(5));
    auto status = FromGrpcStatus(
        env_->connection->workflow_service().ResetStickyTaskQueue(context.get(), request, &response),
        "ResetStickyTaskQueue");
    if (!status.ok()) {
      FD_LOG(kInfo) << "ResetStickyTaskQueue for evicted run " << run.workflow_id << "/" << run.run_id
                    << " failed (its next task is replayed from the sticky queue): " << status.ToString();
    }
    env_->Metric("sticky_queue_reset", status.ok() ? 1 : 0, run.workflow_type);
  }
}

}  // namespace flightdeck::temporal::internal
