// flightdeck/temporal/workflow/internal/workflow_run.h: one workflow run being
// replayed from history (protocol doc, sections 5.3 - 5.13).
//
// A WorkflowRun is built from a run's full history with Replay() and then
// yields the commands of the live activation. A worker with a sticky cache
// keeps the run and feeds it the next task's new events with another
// Replay() call (the commands it sent stay pending and are matched against
// them). Events are
// applied in order; results and inputs become jobs that run, in history
// order, when a sequence closes at a successful WorkflowTaskStarted.
// Command events are matched against the commands earlier activations
// produced (command_matcher.cc); a mismatch is nondeterminism.
//
// Not thread-safe: one thread drives a run from construction to destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/temporal/client/metrics_handler.h"
#include "flightdeck/temporal/workflow/future.h"
#include "flightdeck/temporal/workflow/internal/scheduler.h"
#include "flightdeck/temporal/workflow/options.h"
#include "flightdeck/temporal/workflow/workflow_context.h"
#include "temporal/api/command/v1/message.pb.h"
#include "temporal/api/history/v1/message.pb.h"

namespace flightdeck::temporal::workflow {

/// The type-erased entry point of a registered workflow: decodes its input,
/// runs it, encodes its result (nullopt = no result).
using WorkflowFunction =
    std::function<Task<std::optional<Payload>>(WorkflowContext&, const Payloads&)>;

namespace internal {

using Command = ::temporal::api::command::v1::Command;
using HistoryEvent = ::temporal::api::history::v1::HistoryEvent;

/// Marks a Status as nondeterminism (fails the workflow task with cause
/// NON_DETERMINISTIC_ERROR).
arrow::Status Nondeterminism(const std::string& message);
bool IsNondeterminism(const arrow::Status& status);

/// Short description of an event for error messages, e.g.
/// "event 5 ActivityTaskScheduled(activity_id=1, type=Charge)".
std::string DescribeEvent(const HistoryEvent& event);
/// Same for a command, e.g. "ScheduleActivityTask(activity_id=1, type=Charge)".
std::string DescribeCommand(const Command& command);

class WorkflowRun {
 public:
  WorkflowRun(WorkflowFunction function, WorkflowInfo info);
  ~WorkflowRun();
  WorkflowRun(const WorkflowRun&) = delete;
  WorkflowRun& operator=(const WorkflowRun&) = delete;

  /// Applies history events, contiguous: the first call gets events 1..N;
  /// a later call (sticky cache) gets the events right after the previous
  /// call's last event, which must have been a successful
  /// WorkflowTaskStarted whose commands were completed (so the new events
  /// start with WorkflowTaskCompleted; the caller checks that). Fails with a
  /// Nondeterminism status on mismatches, and with UnknownError when
  /// workflow code threw (a workflow bug); the run is unusable after an
  /// error.
  arrow::Status Replay(const std::vector<HistoryEvent>& events);

  /// Commands of the live (last) activation, terminal command last. Valid
  /// after Replay() succeeded. They stay pending: the next Replay() call
  /// matches its command events against them.
  std::vector<Command> Commands() const;

  /// True once the workflow produced its terminal command.
  bool finished() const { return finished_; }

  /// Runs query handler `name`. KeyError for an unknown query type.
  arrow::Result<Payload> Query(const std::string& name, const Payloads& args);

  const WorkflowInfo& info() const { return info_; }
  /// The header and time of the run's WorkflowExecutionStarted event (set
  /// once it is applied): the trace context the run continues.
  const ::temporal::api::common::v1::Header& started_header() const { return started_header_; }
  std::chrono::system_clock::time_point start_time() const { return start_time_; }

  // --- Services behind WorkflowContext --------------------------------------
  std::chrono::system_clock::time_point now() const { return now_; }
  bool replaying() const { return replaying_; }
  /// Where WorkflowContext::CountMetric goes (the worker's handler); null: nowhere.
  void set_metrics(std::shared_ptr<MetricsHandler> metrics) { metrics_ = std::move(metrics); }
  MetricsHandler* metrics() const { return metrics_.get(); }
  uint64_t NextRandom() { return rng_(); }
  bool continue_as_new_suggested() const { return continue_as_new_suggested_; }
  Started<Payloads> ScheduleActivity(std::string type, const ActivityOptions& options, Payloads args);
  Started<void> StartTimer(Duration duration);
  Started<Payloads> StartChild(std::string type, const ChildWorkflowOptions& options, Payloads args);
  void Cancel(CancelHandle::Kind kind, int64_t seq);
  Future<void> AddCondition(std::function<bool()> condition);
  Future<Payloads> ReceiveSignal(const std::string& name);
  std::optional<Payloads> TryReceiveSignal(const std::string& name);
  void SetSignalHandler(const std::string& name, std::function<void(const Payloads&)> handler);
  void SetQueryHandler(const std::string& name,
                       std::function<arrow::Result<Payload>(const Payloads&)> handler);
  arrow::Result<Payload> SideEffect(const std::function<arrow::Result<Payload>()>& fn);
  bool Patched(const std::string& patch_id, bool deprecated);
  bool cancel_requested() const { return cancel_requested_; }
  Future<void> CancelRequestedFuture() { return cancel_promise_.future(); }
  arrow::Status RequestContinueAsNew(const ContinueAsNewOptions& options, Payloads args);

 private:
  enum class CommandKind { kActivity, kCancelActivity, kTimer, kCancelTimer, kChild,
                           kCancelChild, kMarker, kTerminal };
  struct PendingCommand {
    Command command;
    CommandKind kind;
    int64_t seq;
  };
  struct ActivityMachine {
    Promise<Payloads> result;
    int64_t scheduled_event_id = 0;
    ActivityCancellationType cancellation_type = ActivityCancellationType::kTryCancel;
    std::string activity_id;
    std::string activity_type;
    bool done = false;
  };
  struct TimerMachine {
    Promise<void> fired;
    int64_t started_event_id = 0;
    std::string timer_id;
    bool done = false;
  };
  struct ChildMachine {
    Promise<Payloads> result;
    int64_t initiated_event_id = 0;
    std::string workflow_id;
    std::string workflow_type;
    bool done = false;
  };
  struct SignalQueue {
    std::deque<Payloads> buffered;
    std::deque<Promise<Payloads>> receivers;
    std::function<void(const Payloads&)> handler;
  };

  // workflow_run.cc: the driver.
  arrow::Status Activate(const HistoryEvent& started, const std::vector<HistoryEvent>* next_sequence,
                         bool replaying);
  void FinishIfDone();
  void AddCommand(Command command, CommandKind kind, int64_t seq);
  void DropUnsentCommand(CommandKind kind, int64_t seq);
  void DeliverSignal(const std::string& name, const Payloads& input);

  // event_applier.cc: one history event.
  arrow::Status ApplyEvent(const HistoryEvent& event);
  arrow::Status ApplyReferenceEvent(const HistoryEvent& event);
  arrow::Status ApplyActivityEvent(const HistoryEvent& event);
  arrow::Status ApplyChildEvent(const HistoryEvent& event);
  // Nondeterminism: `event` refers to a `what` event `id` of no command.
  arrow::Status UnknownReference(const HistoryEvent& event, const char* what, int64_t id);

  // command_matcher.cc: command events against produced commands.
  arrow::Status MatchCommandEvent(const HistoryEvent& event);
  void IndexMarkers(const std::vector<HistoryEvent>& sequence);

  WorkflowFunction function_;
  WorkflowInfo info_;
  WorkflowContext context_{this};
  Payloads input_;
  ::temporal::api::common::v1::Header started_header_;
  std::chrono::system_clock::time_point start_time_{};
  std::chrono::system_clock::time_point now_{};
  bool replaying_ = false;
  std::shared_ptr<MetricsHandler> metrics_;
  bool continue_as_new_suggested_ = false;
  std::mt19937_64 rng_;

  std::deque<PendingCommand> commands_;  // produced, not yet matched; oldest first
  std::vector<std::function<void()>> jobs_;

  std::map<int64_t, ActivityMachine> activities_;  // by seq
  std::map<int64_t, int64_t> activity_by_event_;    // scheduled event id -> seq
  std::map<int64_t, TimerMachine> timers_;
  std::map<int64_t, int64_t> timer_by_event_;
  std::map<int64_t, ChildMachine> children_;
  std::map<int64_t, int64_t> child_by_event_;
  int64_t next_activity_seq_ = 1;
  int64_t next_timer_seq_ = 1;
  int64_t next_child_seq_ = 1;
  int64_t next_side_effect_seq_ = 1;

  std::map<std::string, SignalQueue> signals_;
  std::map<std::string, std::function<arrow::Result<Payload>(const Payloads&)>> queries_;
  std::vector<std::pair<std::function<bool()>, Promise<void>>> conditions_;

  // Markers of the next sequence (peek-ahead, section 5.10), by id.
  std::map<int64_t, Payload> peek_side_effects_;
  std::set<std::string> peek_patches_;
  std::map<std::string, bool> patches_;  // memoized Patched() answers

  bool cancel_requested_ = false;
  Promise<void> cancel_promise_;
  std::optional<Command> continue_as_new_;
  bool started_ = false;
  bool finished_ = false;
  Task<std::optional<Payload>> main_;

  // Declared last so that it is destroyed first, while everything its
  // frames may touch still exists.
  Scheduler scheduler_;
};

/// Splits a history into workflow task sequences (section 5.3): each but
/// possibly the last ends at a successful WorkflowTaskStarted or at the
/// workflow's close event.
std::vector<std::vector<HistoryEvent>> SplitSequences(const std::vector<HistoryEvent>& events);

/// True when the sequence ends at a successful WorkflowTaskStarted.
bool EndsAtWorkflowTaskStarted(const std::vector<HistoryEvent>& sequence);

}  // namespace internal
}  // namespace flightdeck::temporal::workflow
