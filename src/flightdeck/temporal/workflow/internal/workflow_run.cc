// The driver of a workflow run: sequences, activations, and the services
// WorkflowContext exposes (creating commands and futures).
#include "flightdeck/temporal/workflow/internal/workflow_run.h"

#include <google/protobuf/util/time_util.h>

#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/workflow/internal/proto_util.h"

namespace flightdeck::temporal::workflow::internal {

namespace enums = ::temporal::api::enums::v1;
using google::protobuf::util::TimeUtil;

namespace {

class ContinueAsNewDetail : public arrow::StatusDetail {
 public:
  static constexpr char kTypeId[] = "flightdeck::temporal::workflow::ContinueAsNew";
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override { return "continue as new"; }
};

bool IsContinueAsNew(const arrow::Status& status) {
  return status.detail() != nullptr &&
         std::string_view(status.detail()->type_id()) == ContinueAsNewDetail::kTypeId;
}

}  // namespace

WorkflowRun::WorkflowRun(WorkflowFunction function, WorkflowInfo info)
    : function_(std::move(function)), info_(std::move(info)) {}

WorkflowRun::~WorkflowRun() = default;

arrow::Status WorkflowRun::Replay(const std::vector<HistoryEvent>& events) {
  const auto sequences = SplitSequences(events);
  for (size_t index = 0; index < sequences.size(); ++index) {
    for (const auto& event : sequences[index]) ARROW_RETURN_NOT_OK(ApplyEvent(event));
    if (EndsAtWorkflowTaskStarted(sequences[index])) {
      const auto* next = index + 1 < sequences.size() ? &sequences[index + 1] : nullptr;
      ARROW_RETURN_NOT_OK(Activate(sequences[index].back(), next, next != nullptr));
    }
  }
  if (!events.empty() && IsCloseEvent(events.back()) && !commands_.empty()) {
    return Nondeterminism("workflow produced command " + DescribeCommand(commands_.front().command) +
                          " after the history's close event " + DescribeEvent(events.back()));
  }
  return arrow::Status::OK();
}

arrow::Status WorkflowRun::Activate(const HistoryEvent& started,
                                    const std::vector<HistoryEvent>* next_sequence,
                                    bool replaying) {
  if (!commands_.empty()) {
    return Nondeterminism("history has no event for command " +
                          DescribeCommand(commands_.front().command) +
                          " (the workflow produced it in the task before " + DescribeEvent(started) +
                          ")");
  }
  now_ = std::chrono::system_clock::time_point(
      std::chrono::milliseconds(TimeUtil::TimestampToMilliseconds(started.event_time())));
  continue_as_new_suggested_ =
      started.workflow_task_started_event_attributes().suggest_continue_as_new();
  replaying_ = replaying;
  peek_side_effects_.clear();
  peek_patches_.clear();
  if (next_sequence != nullptr) IndexMarkers(*next_sequence);

  Scheduler::Scope scope(&scheduler_);
  auto jobs = std::move(jobs_);
  jobs_.clear();
  // Signal handlers and conditions are user code run outside coroutines: an
  // exception there is a workflow bug too and must not escape the worker.
  try {
    for (auto& job : jobs) job();
    for (;;) {
      scheduler_.RunUntilBlocked();
      bool progressed = false;
      for (size_t index = 0; index < conditions_.size(); ++index) {
        if (!conditions_[index].second.resolved() && conditions_[index].first()) {
          conditions_[index].second.Resolve(arrow::Status::OK());
          progressed = true;
        }
      }
      std::erase_if(conditions_, [](const auto& entry) { return entry.second.resolved(); });
      if (!progressed) break;
    }
  } catch (const std::exception& e) {
    scheduler_.SetPanic(std::string("workflow code threw: ") + e.what());
  } catch (...) {
    scheduler_.SetPanic("workflow code threw a non-standard exception");
  }
  if (!scheduler_.panic().empty()) return arrow::Status::UnknownError(scheduler_.panic());
  FinishIfDone();
  return arrow::Status::OK();
}

void WorkflowRun::FinishIfDone() {
  if (finished_ || !started_ || !main_.valid() || !main_.ready()) return;
  finished_ = true;
  const auto& outcome = main_.outcome();
  Command command;
  if (outcome.ok()) {
    command.set_command_type(enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION);
    auto* attrs = command.mutable_complete_workflow_execution_command_attributes();
    if (outcome->has_value()) *attrs->mutable_result()->add_payloads() = **outcome;
  } else if (continue_as_new_ && IsContinueAsNew(outcome.status())) {
    command = *continue_as_new_;
  } else if (outcome.status().IsCancelled() && cancel_requested_) {
    command.set_command_type(enums::COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION);
    command.mutable_cancel_workflow_execution_command_attributes();
  } else {
    command.set_command_type(enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION);
    *command.mutable_fail_workflow_execution_command_attributes()->mutable_failure() =
        StatusToFailure(outcome.status());
  }
  AddCommand(std::move(command), CommandKind::kTerminal, 0);
}

std::vector<Command> WorkflowRun::Commands() const {
  std::vector<Command> out;
  out.reserve(commands_.size());
  for (const auto& pending : commands_) out.push_back(pending.command);
  return out;
}

arrow::Result<Payload> WorkflowRun::Query(const std::string& name, const Payloads& args) {
  auto it = queries_.find(name);
  if (it == queries_.end()) {
    std::string known;
    for (const auto& [query_name, handler] : queries_) known += (known.empty() ? "" : ", ") + query_name;
    return arrow::Status::KeyError("unknown query type '", name, "' (known: ", known, ")");
  }
  Scheduler::Scope scope(&scheduler_);
  try {
    return it->second(args);
  } catch (const std::exception& e) {
    return arrow::Status::UnknownError("query handler '", name, "' threw: ", e.what());
  }
}

void WorkflowRun::AddCommand(Command command, CommandKind kind, int64_t seq) {
  // Nothing may follow a terminal command (protocol 5.7).
  if (finished_ && kind != CommandKind::kTerminal) return;
  commands_.push_back({std::move(command), kind, seq});
}

void WorkflowRun::DropUnsentCommand(CommandKind kind, int64_t seq) {
  std::erase_if(commands_, [&](const PendingCommand& c) { return c.kind == kind && c.seq == seq; });
}

// --- Activities, timers, children -------------------------------------------

Started<Payloads> WorkflowRun::ScheduleActivity(std::string type, const ActivityOptions& options,
                                                Payloads args) {
  if (options.schedule_to_close_timeout.count() <= 0 && options.start_to_close_timeout.count() <= 0) {
    return {Future<Payloads>::Ready(arrow::Status::Invalid(
                "activity ", type, ": set schedule_to_close_timeout or start_to_close_timeout")),
            {}};
  }
  const int64_t seq = next_activity_seq_++;
  Command command;
  command.set_command_type(enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK);
  auto* attrs = command.mutable_schedule_activity_task_command_attributes();
  attrs->set_activity_id(options.activity_id.empty() ? std::to_string(seq) : options.activity_id);
  attrs->mutable_activity_type()->set_name(type);
  attrs->mutable_task_queue()->set_name(options.task_queue.empty() ? info_.task_queue
                                                                   : options.task_queue);
  attrs->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *attrs->mutable_input() = std::move(args);
  SetDuration(options.schedule_to_close_timeout, attrs->mutable_schedule_to_close_timeout());
  SetDuration(options.schedule_to_start_timeout, attrs->mutable_schedule_to_start_timeout());
  SetDuration(options.start_to_close_timeout, attrs->mutable_start_to_close_timeout());
  SetDuration(options.heartbeat_timeout, attrs->mutable_heartbeat_timeout());
  if (options.retry_policy) ToProto(*options.retry_policy, attrs->mutable_retry_policy());

  ActivityMachine& machine = activities_[seq];
  machine.cancellation_type = options.cancellation_type;
  machine.activity_id = attrs->activity_id();
  machine.activity_type = type;
  auto future = machine.result.future();
  AddCommand(std::move(command), CommandKind::kActivity, seq);
  return {future, CancelHandle(this, CancelHandle::Kind::kActivity, seq)};
}

Started<void> WorkflowRun::StartTimer(Duration duration) {
  if (duration.count() <= 0) return {Future<void>::Ready(arrow::Status::OK()), {}};
  const int64_t seq = next_timer_seq_++;
  Command command;
  command.set_command_type(enums::COMMAND_TYPE_START_TIMER);
  auto* attrs = command.mutable_start_timer_command_attributes();
  attrs->set_timer_id(std::to_string(seq));
  SetDuration(duration, attrs->mutable_start_to_fire_timeout());
  TimerMachine& machine = timers_[seq];
  machine.timer_id = attrs->timer_id();
  auto future = machine.fired.future();
  AddCommand(std::move(command), CommandKind::kTimer, seq);
  return {future, CancelHandle(this, CancelHandle::Kind::kTimer, seq)};
}

Started<Payloads> WorkflowRun::StartChild(std::string type, const ChildWorkflowOptions& options,
                                          Payloads args) {
  const int64_t seq = next_child_seq_++;
  Command command;
  command.set_command_type(enums::COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION);
  auto* attrs = command.mutable_start_child_workflow_execution_command_attributes();
  attrs->set_workflow_id(options.workflow_id.empty()
                             ? info_.workflow_id + "/child-" + std::to_string(seq)
                             : options.workflow_id);
  attrs->mutable_workflow_type()->set_name(type);
  attrs->mutable_task_queue()->set_name(options.task_queue.empty() ? info_.task_queue
                                                                   : options.task_queue);
  attrs->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *attrs->mutable_input() = std::move(args);
  SetDuration(options.workflow_execution_timeout, attrs->mutable_workflow_execution_timeout());
  SetDuration(options.workflow_run_timeout, attrs->mutable_workflow_run_timeout());
  SetDuration(options.workflow_task_timeout, attrs->mutable_workflow_task_timeout());
  switch (options.parent_close_policy) {
    case ParentClosePolicy::kTerminate:
      attrs->set_parent_close_policy(enums::PARENT_CLOSE_POLICY_TERMINATE);
      break;
    case ParentClosePolicy::kAbandon:
      attrs->set_parent_close_policy(enums::PARENT_CLOSE_POLICY_ABANDON);
      break;
    case ParentClosePolicy::kRequestCancel:
      attrs->set_parent_close_policy(enums::PARENT_CLOSE_POLICY_REQUEST_CANCEL);
      break;
  }
  if (options.retry_policy) ToProto(*options.retry_policy, attrs->mutable_retry_policy());
  ChildMachine& machine = children_[seq];
  machine.workflow_id = attrs->workflow_id();
  machine.workflow_type = type;
  auto future = machine.result.future();
  AddCommand(std::move(command), CommandKind::kChild, seq);
  return {future, CancelHandle(this, CancelHandle::Kind::kChild, seq)};
}

void WorkflowRun::Cancel(CancelHandle::Kind kind, int64_t seq) {
  const auto cancelled = arrow::Status::Cancelled("cancelled by the workflow");
  switch (kind) {
    case CancelHandle::Kind::kActivity: {
      auto it = activities_.find(seq);
      if (it == activities_.end() || it->second.done || it->second.result.resolved()) return;
      ActivityMachine& machine = it->second;
      machine.done = true;
      if (machine.scheduled_event_id == 0) {
        DropUnsentCommand(CommandKind::kActivity, seq);
        machine.result.Resolve(cancelled);
        return;
      }
      if (machine.cancellation_type != ActivityCancellationType::kAbandon) {
        Command command;
        command.set_command_type(enums::COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK);
        command.mutable_request_cancel_activity_task_command_attributes()->set_scheduled_event_id(
            machine.scheduled_event_id);
        AddCommand(std::move(command), CommandKind::kCancelActivity, seq);
      }
      if (machine.cancellation_type != ActivityCancellationType::kWaitCancellationCompleted) {
        machine.result.Resolve(cancelled);
      }
      return;
    }
    case CancelHandle::Kind::kTimer: {
      auto it = timers_.find(seq);
      if (it == timers_.end() || it->second.done || it->second.fired.resolved()) return;
      it->second.done = true;
      if (it->second.started_event_id == 0) {
        DropUnsentCommand(CommandKind::kTimer, seq);
      } else {
        Command command;
        command.set_command_type(enums::COMMAND_TYPE_CANCEL_TIMER);
        command.mutable_cancel_timer_command_attributes()->set_timer_id(it->second.timer_id);
        AddCommand(std::move(command), CommandKind::kCancelTimer, seq);
      }
      it->second.fired.Resolve(cancelled);
      return;
    }
    case CancelHandle::Kind::kChild: {
      auto it = children_.find(seq);
      if (it == children_.end() || it->second.done || it->second.result.resolved()) return;
      it->second.done = true;
      if (it->second.initiated_event_id == 0) {
        DropUnsentCommand(CommandKind::kChild, seq);
        it->second.result.Resolve(cancelled);
        return;
      }
      Command command;
      command.set_command_type(enums::COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION);
      auto* attrs = command.mutable_request_cancel_external_workflow_execution_command_attributes();
      attrs->set_workflow_id(it->second.workflow_id);
      attrs->set_child_workflow_only(true);
      AddCommand(std::move(command), CommandKind::kCancelChild, seq);
      return;
    }
  }
}

Future<void> WorkflowRun::AddCondition(std::function<bool()> condition) {
  if (condition()) return Future<void>::Ready(arrow::Status::OK());
  Promise<void> promise;
  conditions_.emplace_back(std::move(condition), promise);
  return promise.future();
}

// --- Signals and queries ---------------------------------------------------------

void WorkflowRun::DeliverSignal(const std::string& name, const Payloads& input) {
  SignalQueue& queue = signals_[name];
  if (!queue.receivers.empty()) {
    auto receiver = std::move(queue.receivers.front());
    queue.receivers.pop_front();
    receiver.Resolve(input);
  } else if (queue.handler) {
    queue.handler(input);
  } else {
    queue.buffered.push_back(input);
  }
}

Future<Payloads> WorkflowRun::ReceiveSignal(const std::string& name) {
  SignalQueue& queue = signals_[name];
  if (!queue.buffered.empty()) {
    auto ready = Future<Payloads>::Ready(std::move(queue.buffered.front()));
    queue.buffered.pop_front();
    return ready;
  }
  queue.receivers.emplace_back();
  return queue.receivers.back().future();
}

std::optional<Payloads> WorkflowRun::TryReceiveSignal(const std::string& name) {
  SignalQueue& queue = signals_[name];
  if (queue.buffered.empty()) return std::nullopt;
  Payloads out = std::move(queue.buffered.front());
  queue.buffered.pop_front();
  return out;
}

void WorkflowRun::SetSignalHandler(const std::string& name,
                                   std::function<void(const Payloads&)> handler) {
  SignalQueue& queue = signals_[name];
  queue.handler = std::move(handler);
  while (queue.handler && !queue.buffered.empty()) {
    Payloads next = std::move(queue.buffered.front());
    queue.buffered.pop_front();
    queue.handler(next);
  }
}

void WorkflowRun::SetQueryHandler(const std::string& name,
                                  std::function<arrow::Result<Payload>(const Payloads&)> handler) {
  queries_[name] = std::move(handler);
}

// --- Markers --------------------------------------------------------------------

arrow::Result<Payload> WorkflowRun::SideEffect(const std::function<arrow::Result<Payload>()>& fn) {
  const int64_t seq = next_side_effect_seq_++;
  Payload value;
  if (auto it = peek_side_effects_.find(seq); replaying_ && it != peek_side_effects_.end()) {
    value = it->second;
  } else {
    ARROW_ASSIGN_OR_RAISE(value, fn());
  }
  ARROW_ASSIGN_OR_RAISE(Payload id, ToPayload(seq));
  Command command;
  command.set_command_type(enums::COMMAND_TYPE_RECORD_MARKER);
  auto* attrs = command.mutable_record_marker_command_attributes();
  attrs->set_marker_name(kSideEffectMarker);
  *(*attrs->mutable_details())[kSideEffectIdKey].add_payloads() = std::move(id);
  *(*attrs->mutable_details())[kSideEffectDataKey].add_payloads() = value;
  AddCommand(std::move(command), CommandKind::kMarker, seq);
  return value;
}

bool WorkflowRun::Patched(const std::string& patch_id, bool deprecated) {
  if (auto it = patches_.find(patch_id); it != patches_.end()) return it->second;
  const bool recorded = !replaying_ || peek_patches_.count(patch_id) > 0;
  if (recorded) {
    Command command;
    command.set_command_type(enums::COMMAND_TYPE_RECORD_MARKER);
    auto* attrs = command.mutable_record_marker_command_attributes();
    attrs->set_marker_name(kPatchMarker);
    auto data = ToPayload(nlohmann::json{{"id", patch_id}, {"deprecated", deprecated}});
    if (data.ok()) *(*attrs->mutable_details())[kPatchDataKey].add_payloads() = std::move(*data);
    AddCommand(std::move(command), CommandKind::kMarker, 0);
  }
  patches_[patch_id] = recorded;
  return recorded || deprecated;
}

arrow::Status WorkflowRun::RequestContinueAsNew(const ContinueAsNewOptions& options, Payloads args) {
  Command command;
  command.set_command_type(enums::COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION);
  auto* attrs = command.mutable_continue_as_new_workflow_execution_command_attributes();
  attrs->mutable_workflow_type()->set_name(options.workflow_type.empty() ? info_.workflow_type
                                                                         : options.workflow_type);
  attrs->mutable_task_queue()->set_name(options.task_queue.empty() ? info_.task_queue
                                                                   : options.task_queue);
  attrs->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *attrs->mutable_input() = std::move(args);
  SetDuration(options.workflow_run_timeout, attrs->mutable_workflow_run_timeout());
  SetDuration(options.workflow_task_timeout, attrs->mutable_workflow_task_timeout());
  continue_as_new_ = std::move(command);
  return arrow::Status(arrow::StatusCode::UnknownError, "continue as new",
                       std::make_shared<ContinueAsNewDetail>());
}

}  // namespace flightdeck::temporal::workflow::internal
