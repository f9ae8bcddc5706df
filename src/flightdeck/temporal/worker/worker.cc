#include "flightdeck/temporal/worker/worker.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>

#include "flightdeck/common/logging.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/worker/internal/task_handlers.h"

namespace flightdeck::temporal {

namespace wsv1 = ::temporal::api::workflowservice::v1;
namespace enums = ::temporal::api::enums::v1;

struct Worker::Impl {
  internal::HandlerEnv env;
  workflow::WorkflowRegistry workflows;
  std::map<std::string, ActivityFunction> activities;

  std::mutex mutex;
  std::condition_variable changed;
  bool started = false;                        // guarded by mutex
  bool stopping = false;                       // guarded by mutex
  std::set<grpc::ClientContext*> polls;        // guarded by mutex
  std::set<ActivityContext*> running;          // guarded by mutex
  int busy = 0;                                // tasks being handled; guarded by mutex
  std::vector<std::thread> threads;

  bool Stopping() {
    std::lock_guard<std::mutex> lock(mutex);
    return stopping;
  }

  // Runs one long poll that Shutdown() can cancel. False when stopping.
  template <typename Request, typename Response, typename Rpc>
  bool Poll(Request& request, Response* response, Rpc rpc, const char* name) {
    auto context = env.connection->NewContext(env.options.namespace_name, std::chrono::seconds(70));
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping) return false;
      polls.insert(context.get());
    }
    grpc::Status status = (env.connection->workflow_service().*rpc)(context.get(), request, response);
    std::unique_lock<std::mutex> lock(mutex);
    polls.erase(context.get());
    if (stopping) return false;
    if (!status.ok() && status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      FD_LOG(kWarning) << name << " failed: " << FromGrpcStatus(status, name).ToString();
      changed.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; });  // backoff
      response->Clear();
      return !stopping;
    }
    if (!response->task_token().empty()) ++busy;
    return true;
  }

  template <typename Request>
  Request PollRequest() const {
    Request request;
    request.set_namespace_(env.options.namespace_name);
    request.mutable_task_queue()->set_name(env.options.task_queue);
    request.mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
    request.set_identity(env.identity);
    return request;
  }

  void TaskDone() {
    std::lock_guard<std::mutex> lock(mutex);
    --busy;
    changed.notify_all();
  }

  void WorkflowLoop() {
    while (true) {
      auto request = PollRequest<wsv1::PollWorkflowTaskQueueRequest>();
      wsv1::PollWorkflowTaskQueueResponse task;
      if (!Poll(request, &task, &wsv1::WorkflowService::Stub::PollWorkflowTaskQueue,
                "PollWorkflowTaskQueue")) {
        return;
      }
      if (task.task_token().empty()) continue;
      internal::HandleWorkflowTask(env, task);
      TaskDone();
    }
  }

  void ActivityLoop() {
    while (true) {
      auto request = PollRequest<wsv1::PollActivityTaskQueueRequest>();
      wsv1::PollActivityTaskQueueResponse task;
      if (!Poll(request, &task, &wsv1::WorkflowService::Stub::PollActivityTaskQueue,
                "PollActivityTaskQueue")) {
        return;
      }
      if (task.task_token().empty()) continue;
      internal::HandleActivityTask(env, task, [this](ActivityContext* ctx, bool is_running) {
        std::lock_guard<std::mutex> lock(mutex);
        if (is_running) {
          running.insert(ctx);
          if (stopping) ctx->MarkCancelled();
        } else {
          running.erase(ctx);
        }
      });
      TaskDone();
    }
  }
};

Worker::Worker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Worker::~Worker() { (void)Shutdown(); }

arrow::Result<std::unique_ptr<Worker>> Worker::Make(std::shared_ptr<Connection> connection,
                                                    WorkerOptions options) {
  if (connection == nullptr) return arrow::Status::Invalid("worker needs a connection");
  if (options.task_queue.empty()) return arrow::Status::Invalid("worker needs a task_queue");
  if (options.namespace_name.empty()) return arrow::Status::Invalid("worker needs a namespace");
  if (options.max_concurrent_workflow_tasks < 1 || options.max_concurrent_activities < 1) {
    return arrow::Status::Invalid("worker slot counts must be positive, got ",
                                  options.max_concurrent_workflow_tasks, " workflow and ",
                                  options.max_concurrent_activities, " activity slots");
  }
  auto impl = std::make_unique<Impl>();
  impl->env.identity = options.identity.empty() ? connection->identity() : options.identity;
  impl->env.connection = std::move(connection);
  impl->env.options = std::move(options);
  impl->env.workflows = &impl->workflows;
  impl->env.activities = &impl->activities;
  return std::unique_ptr<Worker>(new Worker(std::move(impl)));
}

const std::string& Worker::identity() const { return impl_->env.identity; }
workflow::WorkflowRegistry& Worker::workflows() { return impl_->workflows; }

arrow::Status Worker::RegisterActivityRaw(const std::string& name, ActivityFunction fn) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->started) return arrow::Status::Invalid("register activities before Start()");
  if (name.empty()) return arrow::Status::Invalid("activity type name must not be empty");
  if (!impl_->activities.emplace(name, std::move(fn)).second) {
    return arrow::Status::AlreadyExists("activity type '", name, "' is already registered");
  }
  return arrow::Status::OK();
}

arrow::Status Worker::Start() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->started) return arrow::Status::Invalid("worker already started");
  if (impl_->workflows.Names().empty() && impl_->activities.empty()) {
    return arrow::Status::Invalid("worker for task queue ", impl_->env.options.task_queue,
                                  " has no workflows or activities registered");
  }
  impl_->started = true;
  if (!impl_->workflows.Names().empty()) {
    for (int i = 0; i < impl_->env.options.max_concurrent_workflow_tasks; ++i) {
      impl_->threads.emplace_back([this] { impl_->WorkflowLoop(); });
    }
  }
  if (!impl_->activities.empty()) {
    for (int i = 0; i < impl_->env.options.max_concurrent_activities; ++i) {
      impl_->threads.emplace_back([this] { impl_->ActivityLoop(); });
    }
  }
  return arrow::Status::OK();
}

arrow::Status Worker::Shutdown() {
  {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    if (impl_->stopping) return arrow::Status::OK();
    impl_->stopping = true;
    for (auto* poll : impl_->polls) poll->TryCancel();
    impl_->changed.notify_all();
    if (!impl_->changed.wait_for(lock, impl_->env.options.graceful_shutdown_timeout,
                                 [&] { return impl_->busy == 0; })) {
      for (auto* ctx : impl_->running) ctx->MarkCancelled();
    }
  }
  for (auto& thread : impl_->threads) thread.join();
  impl_->threads.clear();
  return arrow::Status::OK();
}

}  // namespace flightdeck::temporal
