#include "flightdeck/temporal/worker/worker.h"

#include <atomic>
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <type_traits>
#include <vector>

#include <grpcpp/client_context.h>

#include "flightdeck/common/logging.h"
#include "flightdeck/common/random.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/worker/internal/sticky_resetter.h"
#include "flightdeck/temporal/worker/internal/task_handlers.h"

namespace flightdeck::temporal {

namespace wsv1 = ::temporal::api::workflowservice::v1;
namespace enums = ::temporal::api::enums::v1;

namespace {

// Long polls for one kind of task when WorkerOptions leaves the count at 0:
// half the slots (so some stay free for eager activities), 1 to 5.
int ResolvePolls(int requested, int slots) {
  if (requested > 0) return std::min(requested, slots);
  return std::max(1, std::min(5, slots / 2));
}

// `<identity>-<random hex>` (core's scheme): unique per worker.
std::string StickyQueueName(const std::string& identity) {
  return identity + "-" + RandomHex(8);
}

}  // namespace

struct Worker::Impl {
  // One kind of task: `handlers` threads (one per slot) take tasks from
  // `queue`; `pollers` threads each reserve a free slot, poll, and queue
  // what they got (or give the slot back). All fields guarded by `mutex`.
  template <typename Task>
  struct Lane {
    int free_slots = 0;
    int slots = 0;    // all of them
    int in_use = 0;   // holding a task (queued or being handled)
    const char* worker_type = "";  // the SDKs' label: WorkflowWorker, ActivityWorker
    std::deque<Task> queue;
    bool closed = false;  // nothing more will be queued: handlers exit when empty
    std::condition_variable slot_freed;
    std::condition_variable task_ready;
    std::vector<std::thread> pollers;
    std::vector<std::thread> handlers;
  };

  // How the workflow lane's polls are spread over the normal and the sticky
  // queue (sticky execution on). Each poll picks its queue when it starts:
  // one always waits on each queue; the sticky queue, which holds the next
  // tasks of runs already under way, gets every other poll while the server
  // last reported a backlog there (PollWorkflowTaskQueueResponse.
  // backlog_count_hint), and otherwise its share `sticky_share` (more than
  // half). So sticky tasks mostly meet a waiting poll (a sync match, no
  // backlog write on the server) and runs finish before new ones start,
  // while the normal queue still gets at least one poll. All fields guarded
  // by `mutex`.
  struct PollBalance {
    int sticky_share = 1;
    int outstanding[2] = {0, 0};  // [0] normal, [1] sticky
    int64_t sticky_backlog = 0;   // last hint from a sticky poll

    bool ChooseSticky() const {
      if (outstanding[1] == 0) return true;
      if (outstanding[0] == 0) return false;
      return sticky_backlog > 0 || outstanding[1] < sticky_share;
    }
  };

  internal::HandlerEnv env;
  std::unique_ptr<internal::WorkflowCache> cache;  // set in Start() when sticky execution is on
  std::unique_ptr<internal::StickyResetter> sticky_resetter;  // with `cache`
  workflow::WorkflowRegistry workflows;
  std::map<std::string, ActivityFunction> activities;

  std::mutex mutex;
  std::condition_variable idle;                // busy dropped to 0
  bool started = false;                        // guarded by mutex
  bool stopping = false;                       // guarded by mutex
  bool grace_expired = false;                  // guarded by mutex
  std::set<grpc::ClientContext*> polls;        // guarded by mutex
  std::set<ActivityContext*> running;          // guarded by mutex
  int busy = 0;                                // tasks queued or being handled; guarded by mutex
  Lane<wsv1::PollWorkflowTaskQueueResponse> workflow_lane;
  Lane<wsv1::PollActivityTaskQueueResponse> activity_lane;
  PollBalance workflow_polls;                  // guarded by mutex

  // Runs one long poll that Shutdown() can cancel. False when stopping; an
  // expired poll or an error (after a backoff) leaves `response` empty.
  template <typename Request, typename Response, typename Rpc>
  bool Poll(const Request& request, Response* response, Rpc rpc, const char* name) {
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
    if (!status.ok()) {
      response->Clear();
      if (status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        FD_LOG(kWarning) << name << " failed: " << FromGrpcStatus(status, name).ToString();
        idle.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; });  // backoff
      }
    }
    return !stopping;
  }

  // A poll of the normal queue, or (`sticky`) of this worker's sticky queue.
  template <typename Request>
  Request PollRequest(bool sticky) const {
    Request request;
    request.set_namespace_(env.options.namespace_name);
    if (sticky) {
      request.mutable_task_queue()->set_name(env.sticky_queue);
      request.mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_STICKY);
      request.mutable_task_queue()->set_normal_name(env.options.task_queue);
    } else {
      request.mutable_task_queue()->set_name(env.options.task_queue);
      request.mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
    }
    request.set_identity(env.identity);
    return request;
  }

  // temporal_worker_task_slots_available and _used of `lane`. Caller holds
  // `mutex`.
  template <typename Task>
  void ReportSlotsLocked(const Lane<Task>& lane) const {
    if (!env.options.metrics_handler) return;
    const MetricLabels labels = env.Labels({{"worker_type", lane.worker_type}});
    env.options.metrics_handler->Set("temporal_worker_task_slots_available", labels, lane.slots - lane.in_use);
    env.options.metrics_handler->Set("temporal_worker_task_slots_used", labels, lane.in_use);
  }

  // Caller holds `mutex`; the slot of the task is already taken.
  template <typename Task>
  void QueueLocked(Lane<Task>& lane, Task task) {
    lane.queue.push_back(std::move(task));
    ++lane.in_use;
    ReportSlotsLocked(lane);
    ++busy;
    lane.task_ready.notify_one();
  }

  // `balanced`: the workflow lane with sticky execution, each poll picks
  // its queue (PollBalance); else every poll goes to the normal queue.
  template <typename Task, typename Request, typename Rpc>
  void PollLoop(Lane<Task>& lane, Rpc rpc, const char* name, bool balanced) {
    const Request requests[2] = {PollRequest<Request>(false), PollRequest<Request>(true)};
    while (true) {
      bool sticky = false;
      {
        std::unique_lock<std::mutex> lock(mutex);
        lane.slot_freed.wait(lock, [&] { return stopping || lane.free_slots > 0; });
        if (stopping) return;
        --lane.free_slots;
        if (balanced) {
          sticky = workflow_polls.ChooseSticky();
          ++workflow_polls.outstanding[sticky];
        }
      }
      Task task;
      const bool go_on = Poll(requests[sticky], &task, rpc, name);
      std::lock_guard<std::mutex> lock(mutex);
      if constexpr (std::is_same_v<Task, wsv1::PollWorkflowTaskQueueResponse>) {
        if (balanced) {
          --workflow_polls.outstanding[sticky];
          if (sticky) workflow_polls.sticky_backlog = task.backlog_count_hint();
        }
      }
      if (task.task_token().empty()) {
        ++lane.free_slots;
      } else {
        QueueLocked(lane, std::move(task));  // handled even when stopping now
      }
      if (!go_on) return;
    }
  }

  template <typename Task, typename Handle>
  void HandleLoop(Lane<Task>& lane, Handle handle) {
    while (true) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mutex);
        lane.task_ready.wait(lock, [&] { return !lane.queue.empty() || lane.closed; });
        if (lane.queue.empty()) return;
        task = std::move(lane.queue.front());
        lane.queue.pop_front();
      }
      handle(task);
      std::lock_guard<std::mutex> lock(mutex);
      --lane.in_use;
      ReportSlotsLocked(lane);
      ++lane.free_slots;
      lane.slot_freed.notify_one();
      if (--busy == 0) idle.notify_all();
    }
  }

  // Starts `slots` handler threads and the lane's pollers; with `sticky`,
  // the polls are balanced between the normal and the sticky queue (at
  // least one each, which needs two slots).
  template <typename Request, typename Task, typename Rpc, typename Handle>
  void StartLane(Lane<Task>& lane, int slots, int requested_polls, Rpc rpc, const char* name,
                 bool sticky, Handle handle) {
    lane.free_slots = slots;
    lane.slots = slots;
    lane.worker_type = std::is_same_v<Task, wsv1::PollWorkflowTaskQueueResponse> ? "WorkflowWorker" : "ActivityWorker";
    ReportSlotsLocked(lane);
    for (int i = 0; i < slots; ++i) {
      lane.handlers.emplace_back([this, &lane, handle] { HandleLoop(lane, handle); });
    }
    const int polls = sticky ? std::min(slots, std::max(2, ResolvePolls(requested_polls, slots)))
                             : ResolvePolls(requested_polls, slots);
    if (sticky) workflow_polls.sticky_share = polls - polls / 2;  // Start() holds `mutex`
    for (int i = 0; i < polls; ++i) {
      lane.pollers.emplace_back([this, &lane, rpc, name, sticky] {
        PollLoop<Task, Request>(lane, rpc, name, sticky);
      });
    }
  }

  void HandleActivity(const wsv1::PollActivityTaskQueueResponse& task) {
    internal::HandleActivityTask(env, task, [this](ActivityContext* ctx, bool is_running) {
      std::lock_guard<std::mutex> lock(mutex);
      if (is_running) {
        running.insert(ctx);
        if (grace_expired) ctx->MarkCancelled();
      } else {
        running.erase(ctx);
      }
    });
  }

  // Wires the workflow task handler to the activity slots (eager execution).
  void EnableEagerActivities() {
    env.eager.try_reserve = [this] {
      std::lock_guard<std::mutex> lock(mutex);
      if (activity_lane.closed || activity_lane.free_slots <= 0) return false;
      --activity_lane.free_slots;
      return true;
    };
    env.eager.release = [this](int count) {
      std::lock_guard<std::mutex> lock(mutex);
      activity_lane.free_slots += count;
      activity_lane.slot_freed.notify_all();
    };
    env.eager.dispatch = [this](wsv1::PollActivityTaskQueueResponse task) {
      std::lock_guard<std::mutex> lock(mutex);
      QueueLocked(activity_lane, std::move(task));
    };
  }

  // Tells the server this worker stopped polling (protocol doc 4.6).
  void SendShutdownWorker() {
    wsv1::ShutdownWorkerRequest request;
    request.set_namespace_(env.options.namespace_name);
    request.set_identity(env.identity);
    request.set_reason("graceful shutdown");
    request.set_task_queue(env.options.task_queue);
    request.set_sticky_task_queue(env.sticky_queue);
    if (!workflows.Names().empty()) request.add_task_queue_types(enums::TASK_QUEUE_TYPE_WORKFLOW);
    if (!activities.empty()) request.add_task_queue_types(enums::TASK_QUEUE_TYPE_ACTIVITY);
    wsv1::ShutdownWorkerResponse response;
    auto context = env.connection->NewContext(env.options.namespace_name, std::chrono::seconds(5));
    auto status = FromGrpcStatus(
        env.connection->workflow_service().ShutdownWorker(context.get(), request, &response),
        "ShutdownWorker");
    if (!status.ok() && GrpcCodeOf(status) != grpc::StatusCode::UNIMPLEMENTED) {
      FD_LOG(kInfo) << "ShutdownWorker for task queue " << env.options.task_queue
                    << " failed (ignored): " << status.ToString();
    }
    env.Metric("shutdown_worker", status.ok() ? 1 : 0, env.options.task_queue);
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
  if (options.max_cached_workflows < 0 || options.sticky_schedule_to_start_timeout.count() < 0) {
    return arrow::Status::Invalid("worker max_cached_workflows and sticky_schedule_to_start_timeout must "
                                  "not be negative, got ", options.max_cached_workflows, " and ",
                                  options.sticky_schedule_to_start_timeout.count(), " ms");
  }
  if (options.max_eager_activities_per_workflow_task < 0) {
    return arrow::Status::Invalid("worker max_eager_activities_per_workflow_task must not be negative, got ",
                                  options.max_eager_activities_per_workflow_task);
  }
  if (options.max_concurrent_workflow_task_polls < 0 || options.max_concurrent_activity_task_polls < 0) {
    return arrow::Status::Invalid("worker poll counts must not be negative, got ",
                                  options.max_concurrent_workflow_task_polls, " workflow and ",
                                  options.max_concurrent_activity_task_polls, " activity polls");
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
  if (impl_->stopping) return arrow::Status::Invalid("worker already shut down");
  if (impl_->workflows.Names().empty() && impl_->activities.empty()) {
    return arrow::Status::Invalid("worker for task queue ", impl_->env.options.task_queue,
                                  " has no workflows or activities registered");
  }
  impl_->started = true;
  Impl* impl = impl_.get();
  impl->env.Count("temporal_worker_start", impl->env.Labels());
  const WorkerOptions& options = impl->env.options;
  if (!impl->activities.empty()) {
    impl->StartLane<wsv1::PollActivityTaskQueueRequest>(
        impl->activity_lane, options.max_concurrent_activities, options.max_concurrent_activity_task_polls,
        &wsv1::WorkflowService::Stub::PollActivityTaskQueue, "PollActivityTaskQueue", false,
        [impl](const wsv1::PollActivityTaskQueueResponse& task) { impl->HandleActivity(task); });
    if (options.eager_activities) impl->EnableEagerActivities();
  }
  if (!impl->workflows.Names().empty()) {
    const bool sticky = options.max_cached_workflows > 0 && options.max_concurrent_workflow_tasks >= 2;
    if (sticky) {
      impl->env.sticky_queue = StickyQueueName(impl->env.identity);
      impl->sticky_resetter = std::make_unique<internal::StickyResetter>(&impl->env);
      impl->cache = std::make_unique<internal::WorkflowCache>(
          options.max_cached_workflows, [impl](const internal::CachedWorkflow& evicted) {
            impl->env.Metric("workflow_cache_evicted", 1, impl->env.options.task_queue);
            const workflow::WorkflowInfo& info = evicted.run->info();
            impl->sticky_resetter->Enqueue(info.workflow_id, info.run_id, info.workflow_type);
          });
      impl->env.cache = impl->cache.get();
    }
    impl->StartLane<wsv1::PollWorkflowTaskQueueRequest>(
        impl->workflow_lane, options.max_concurrent_workflow_tasks, options.max_concurrent_workflow_task_polls,
        &wsv1::WorkflowService::Stub::PollWorkflowTaskQueue, "PollWorkflowTaskQueue", sticky,
        [impl](const wsv1::PollWorkflowTaskQueueResponse& task) {
          internal::HandleWorkflowTask(impl->env, task);
        });
  }
  return arrow::Status::OK();
}

namespace {

void JoinAll(std::vector<std::thread>& threads) {
  for (auto& thread : threads) thread.join();
  threads.clear();
}

}  // namespace

arrow::Status Worker::Shutdown() {
  Impl* impl = impl_.get();
  {
    std::lock_guard<std::mutex> lock(impl->mutex);
    if (impl->stopping) return arrow::Status::OK();
    impl->stopping = true;
    if (!impl->started) return arrow::Status::OK();
    for (auto* poll : impl->polls) poll->TryCancel();
    impl->workflow_lane.slot_freed.notify_all();
    impl->activity_lane.slot_freed.notify_all();
    impl->idle.notify_all();
  }
  // 1. No more polls; what they already got is queued and still handled.
  JoinAll(impl->workflow_lane.pollers);
  JoinAll(impl->activity_lane.pollers);
  {
    std::unique_lock<std::mutex> lock(impl->mutex);
    impl->workflow_lane.closed = true;
    impl->workflow_lane.task_ready.notify_all();
    // 2. Queued and running tasks (including eager activities that workflow
    // tasks still receive) get the grace period, then activities are
    // marked cancelled.
    if (!impl->idle.wait_for(lock, impl->env.options.graceful_shutdown_timeout,
                             [&] { return impl->busy == 0; })) {
      impl->grace_expired = true;
      for (auto* ctx : impl->running) ctx->MarkCancelled();
    }
  }
  // 3. Workflow handlers are done before the activity lane closes, since
  // their completions may still hand over eager activity tasks.
  JoinAll(impl->workflow_lane.handlers);
  {
    std::lock_guard<std::mutex> lock(impl->mutex);
    impl->activity_lane.closed = true;
    impl->activity_lane.task_ready.notify_all();
  }
  JoinAll(impl->activity_lane.handlers);
  if (impl->sticky_resetter != nullptr) impl->sticky_resetter->Stop();
  impl->SendShutdownWorker();
  return arrow::Status::OK();
}

}  // namespace flightdeck::temporal
