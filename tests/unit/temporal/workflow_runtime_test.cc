// The workflow runtime without a server: coroutines on the deterministic
// scheduler, history sequences, commands of the live activation, and
// nondeterminism messages, on hand-built histories.
#include <gtest/gtest.h>
#include <google/protobuf/util/time_util.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/workflow/internal/workflow_run.h"
#include "flightdeck/temporal/workflow/when.h"
#include "flightdeck/temporal/workflow/workflow_registry.h"

namespace flightdeck::temporal::workflow {
namespace {

using namespace std::chrono_literals;
namespace enums = ::temporal::api::enums::v1;
using internal::HistoryEvent;

Task<int> AddLater(Future<int> a, Future<int> b) {
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(int x, co_await a);
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(int y, co_await b);
  co_return x + y;
}

TEST(WorkflowRuntimeTest, TasksResumeInResolutionOrderOnTheScheduler) {
  internal::Scheduler scheduler;
  internal::Scheduler::Scope scope(&scheduler);
  Promise<int> a, b;
  Task<int> sum = AddLater(a.future(), b.future());
  auto all = WhenAll(std::vector<Future<int>>{a.future(), b.future()});
  auto any = WhenAny(std::vector<Future<int>>{a.future(), b.future()});
  EXPECT_FALSE(sum.ready());
  b.Resolve(2);
  scheduler.RunUntilBlocked();
  ASSERT_TRUE(any.ready());
  EXPECT_EQ(*any.outcome(), 1u);
  EXPECT_FALSE(sum.ready());
  a.Resolve(arrow::Status::IOError("boom"));
  scheduler.RunUntilBlocked();
  ASSERT_TRUE(sum.ready());
  EXPECT_TRUE(sum.outcome().status().IsIOError());
  ASSERT_TRUE(all.ready());
  EXPECT_TRUE((*all.outcome())[0].status().IsIOError());
  EXPECT_EQ(*(*all.outcome())[1], 2);
  auto none = WhenAny(std::vector<Future<int>>{});
  EXPECT_TRUE(none.outcome().status().IsInvalid());
}

Task<std::string> TwoSteps(WorkflowContext& ctx, std::string who) {
  ActivityOptions options;
  options.start_to_close_timeout = 5s;
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(auto text, co_await ctx.ExecuteActivity<std::string>("Hello", options, who));
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await ctx.Sleep(1s));
  co_return text;
}

Task<std::string> NoTimeout(WorkflowContext& ctx) {
  const ActivityOptions options;  // a named variable: see "GCC 12" in workflow_context.h
  co_return co_await ctx.ExecuteActivity<std::string>("Hello", options);
}

class HistoryBuilder {
 public:
  HistoryBuilder& Add(enums::EventType type, const std::function<void(HistoryEvent&)>& fill = {}) {
    HistoryEvent event;
    event.set_event_id(static_cast<int64_t>(events.size()) + 1);
    event.set_event_type(type);
    *event.mutable_event_time() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1000 + event.event_id());
    if (fill) fill(event);
    events.push_back(event);
    return *this;
  }
  HistoryBuilder& Start(const std::string& type, Payloads input) {
    return Add(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, [&](HistoryEvent& e) {
      auto* attrs = e.mutable_workflow_execution_started_event_attributes();
      attrs->mutable_workflow_type()->set_name(type);
      attrs->mutable_task_queue()->set_name("q");
      *attrs->mutable_input() = input;
      attrs->set_original_execution_run_id("run-1");
    });
  }
  HistoryBuilder& WorkflowTask(bool completed = true) {
    Add(enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
    Add(enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
    if (completed) Add(enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    return *this;
  }
  HistoryBuilder& ActivityScheduled(const std::string& type) {
    return Add(enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, [&](HistoryEvent& e) {
      e.mutable_activity_task_scheduled_event_attributes()->set_activity_id("1");
      e.mutable_activity_task_scheduled_event_attributes()->mutable_activity_type()->set_name(type);
    });
  }
  HistoryBuilder& TimerStartedAndFired(const std::string& timer_id) {
    Add(enums::EVENT_TYPE_TIMER_STARTED, [&](HistoryEvent& e) {
      e.mutable_timer_started_event_attributes()->set_timer_id(timer_id);
    });
    const int64_t started = events.back().event_id();
    return Add(enums::EVENT_TYPE_TIMER_FIRED, [&](HistoryEvent& e) {
      e.mutable_timer_fired_event_attributes()->set_started_event_id(started);
    });
  }
  std::vector<HistoryEvent> events;
};

std::vector<internal::Command> Replay(const WorkflowRegistry& registry, const std::vector<HistoryEvent>& events,
                                      arrow::Status* status) {
  const auto* fn = registry.Find(events[0].workflow_execution_started_event_attributes().workflow_type().name());
  internal::WorkflowRun run(*fn, WorkflowInfo{.workflow_id = "wf"});
  *status = run.Replay(events);
  return run.Commands();
}

TEST(WorkflowRuntimeTest, FirstTaskSchedulesTheActivity) {
  WorkflowRegistry registry;
  ASSERT_OK(registry.Register("TwoSteps", &TwoSteps));
  HistoryBuilder h;
  h.Start("TwoSteps", *ToPayloads(std::string("Ada"))).WorkflowTask(false);
  arrow::Status status;
  auto commands = Replay(registry, h.events, &status);
  ASSERT_OK(status);
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].command_type(), enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK);
  EXPECT_EQ(commands[0].schedule_activity_task_command_attributes().activity_type().name(), "Hello");
  EXPECT_EQ(commands[0].schedule_activity_task_command_attributes().task_queue().name(), "q");
  EXPECT_EQ(commands[0].schedule_activity_task_command_attributes().input().payloads(0).data(), "\"Ada\"");
}

TEST(WorkflowRuntimeTest, ActivityResultLeadsToTimerThenCompletion) {
  WorkflowRegistry registry;
  ASSERT_OK(registry.Register("TwoSteps", &TwoSteps));
  HistoryBuilder h;
  h.Start("TwoSteps", *ToPayloads(std::string("Ada"))).WorkflowTask().ActivityScheduled("Hello");
  h.Add(enums::EVENT_TYPE_ACTIVITY_TASK_STARTED, [](HistoryEvent& e) {
    e.mutable_activity_task_started_event_attributes()->set_scheduled_event_id(5);
  });
  h.Add(enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED, [](HistoryEvent& e) {
    e.mutable_activity_task_completed_event_attributes()->set_scheduled_event_id(5);
    *e.mutable_activity_task_completed_event_attributes()->mutable_result() = *ToPayloads(std::string("hi"));
  });
  h.WorkflowTask(false);
  arrow::Status status;
  auto commands = Replay(registry, h.events, &status);
  ASSERT_OK(status);
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].command_type(), enums::COMMAND_TYPE_START_TIMER);
  EXPECT_EQ(commands[0].start_timer_command_attributes().timer_id(), "1");

  // Fire the timer: the workflow completes with the activity's result.
  h.events.pop_back();
  h.events.pop_back();
  h.WorkflowTask();
  h.TimerStartedAndFired("1");
  h.WorkflowTask(false);
  commands = Replay(registry, h.events, &status);
  ASSERT_OK(status);
  ASSERT_EQ(commands.size(), 1u);
  ASSERT_EQ(commands[0].command_type(), enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION);
  EXPECT_EQ(commands[0].complete_workflow_execution_command_attributes().result().payloads(0).data(), "\"hi\"");
}

// The sticky cache feeds one run the history in chunks, each starting after
// the last WorkflowTaskStarted: the same commands as a full replay, and a
// mismatch in a later chunk is still nondeterminism.
TEST(WorkflowRuntimeTest, ChunkedReplayContinuesTheSameRun) {
  WorkflowRegistry registry;
  ASSERT_OK(registry.Register("TwoSteps", &TwoSteps));
  const auto* fn = registry.Find("TwoSteps");
  HistoryBuilder h;
  h.Start("TwoSteps", *ToPayloads(std::string("Ada"))).WorkflowTask(false);
  internal::WorkflowRun run(*fn, WorkflowInfo{.workflow_id = "wf"});
  ASSERT_OK(run.Replay(h.events));
  ASSERT_EQ(run.Commands().size(), 1u);
  EXPECT_EQ(run.Commands()[0].command_type(), enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK);

  auto chunk_from = [&](size_t first) {
    return std::vector<HistoryEvent>(h.events.begin() + static_cast<std::ptrdiff_t>(first), h.events.end());
  };
  size_t next = h.events.size();
  h.Add(enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED).ActivityScheduled("Hello");
  h.Add(enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED, [](HistoryEvent& e) {
    e.mutable_activity_task_completed_event_attributes()->set_scheduled_event_id(5);
    *e.mutable_activity_task_completed_event_attributes()->mutable_result() = *ToPayloads(std::string("hi"));
  });
  h.WorkflowTask(false);
  ASSERT_OK(run.Replay(chunk_from(next)));
  ASSERT_EQ(run.Commands().size(), 1u);
  EXPECT_EQ(run.Commands()[0].command_type(), enums::COMMAND_TYPE_START_TIMER);

  next = h.events.size();
  h.Add(enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  h.TimerStartedAndFired("1");
  h.WorkflowTask(false);
  ASSERT_OK(run.Replay(chunk_from(next)));
  ASSERT_EQ(run.Commands().size(), 1u);
  EXPECT_EQ(run.Commands()[0].command_type(), enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION);
  EXPECT_TRUE(run.finished());

  // The same history in one piece gives the same commands.
  arrow::Status status;
  auto full = Replay(registry, h.events, &status);
  ASSERT_OK(status);
  ASSERT_EQ(full.size(), 1u);
  EXPECT_EQ(full[0].SerializeAsString(), run.Commands()[0].SerializeAsString());

  // A chunk whose command event does not match the sent command.
  internal::WorkflowRun other(*fn, WorkflowInfo{.workflow_id = "wf"});
  HistoryBuilder g;
  g.Start("TwoSteps", *ToPayloads(std::string("Ada"))).WorkflowTask(false);
  ASSERT_OK(other.Replay(g.events));
  next = g.events.size();
  g.Add(enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED).ActivityScheduled("Goodbye");
  g.WorkflowTask(false);
  status = other.Replay(std::vector<HistoryEvent>(g.events.begin() + static_cast<std::ptrdiff_t>(next),
                                                  g.events.end()));
  ASSERT_TRUE(internal::IsNondeterminism(status)) << status.ToString();
  EXPECT_NE(status.message().find("type=Goodbye"), std::string::npos) << status.message();
}

TEST(WorkflowRuntimeTest, MismatchNamesEventAndCommand) {
  WorkflowRegistry registry;
  ASSERT_OK(registry.Register("TwoSteps", &TwoSteps));
  HistoryBuilder h;
  h.Start("TwoSteps", *ToPayloads(std::string("Ada"))).WorkflowTask().ActivityScheduled("Goodbye");
  h.WorkflowTask(false);
  arrow::Status status;
  Replay(registry, h.events, &status);
  ASSERT_TRUE(internal::IsNondeterminism(status)) << status.ToString();
  EXPECT_NE(status.message().find("event 5 ActivityTaskScheduled(activity_id=1, type=Goodbye)"),
            std::string::npos) << status.message();
  EXPECT_NE(status.message().find("ScheduleActivityTask(activity_id=1, type=Hello)"), std::string::npos);
}

TEST(WorkflowRuntimeTest, MissingCommandEventIsNondeterminism) {
  WorkflowRegistry registry;
  ASSERT_OK(registry.Register("TwoSteps", &TwoSteps));
  HistoryBuilder h;
  // History where the first task produced nothing: the code's activity is extra.
  h.Start("TwoSteps", *ToPayloads(std::string("Ada"))).WorkflowTask();
  h.Add(enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, [](HistoryEvent& e) {
    e.mutable_workflow_execution_signaled_event_attributes()->set_signal_name("poke");
  });
  h.WorkflowTask(false);
  arrow::Status status;
  Replay(registry, h.events, &status);
  ASSERT_TRUE(internal::IsNondeterminism(status)) << status.ToString();
  EXPECT_NE(status.message().find("history has no event for command ScheduleActivityTask"), std::string::npos)
      << status.message();
}

TEST(WorkflowRuntimeTest, FailedWorkflowTaskIsNotABoundary) {
  HistoryBuilder h;
  h.Start("X", {}).WorkflowTask(false);
  h.Add(enums::EVENT_TYPE_WORKFLOW_TASK_FAILED);
  h.WorkflowTask(false);
  auto sequences = internal::SplitSequences(h.events);
  ASSERT_EQ(sequences.size(), 1u);
  EXPECT_EQ(sequences[0].size(), 6u);
  EXPECT_TRUE(internal::EndsAtWorkflowTaskStarted(sequences[0]));
}

TEST(WorkflowRuntimeTest, BadInputFailsWorkflowAndMissingTimeoutFailsActivity) {
  WorkflowRegistry registry;
  ASSERT_OK(registry.Register("TwoSteps", &TwoSteps));
  ASSERT_OK(registry.Register("NoTimeout", &NoTimeout));
  ASSERT_RAISES(AlreadyExists, registry.Register("NoTimeout", &NoTimeout));
  ASSERT_RAISES(Invalid, registry.RegisterRaw("", {}));

  HistoryBuilder bad_input;
  bad_input.Start("TwoSteps", *ToPayloads(42)).WorkflowTask(false);
  arrow::Status status;
  auto commands = Replay(registry, bad_input.events, &status);
  ASSERT_OK(status);
  ASSERT_EQ(commands.size(), 1u);
  ASSERT_EQ(commands[0].command_type(), enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION);
  const auto& failure = commands[0].fail_workflow_execution_command_attributes().failure();
  EXPECT_EQ(failure.application_failure_info().type(), "InvalidArgument");
  EXPECT_TRUE(failure.application_failure_info().non_retryable());

  HistoryBuilder no_timeout;
  no_timeout.Start("NoTimeout", {}).WorkflowTask(false);
  commands = Replay(registry, no_timeout.events, &status);
  ASSERT_OK(status);
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_NE(commands[0].fail_workflow_execution_command_attributes().failure().message().find(
                "start_to_close_timeout"), std::string::npos);
}

Task<std::string> PatchedOrNot(WorkflowContext& ctx) {
  const bool patched = ctx.Patched("new-activity");
  ActivityOptions options;
  options.start_to_close_timeout = 1s;
  co_return co_await ctx.ExecuteActivity<std::string>(patched ? "New" : "Old", options);
}

TEST(WorkflowRuntimeTest, PatchedIsFalseOnHistoriesFromBeforeThePatch) {
  WorkflowRegistry registry;
  ASSERT_OK(registry.Register("PatchedOrNot", &PatchedOrNot));
  // Live: records the marker, then takes the new branch.
  HistoryBuilder fresh;
  fresh.Start("PatchedOrNot", {}).WorkflowTask(false);
  arrow::Status status;
  auto commands = Replay(registry, fresh.events, &status);
  ASSERT_OK(status);
  ASSERT_EQ(commands.size(), 2u);
  EXPECT_EQ(commands[0].record_marker_command_attributes().marker_name(), "core_patch");
  EXPECT_EQ(commands[1].schedule_activity_task_command_attributes().activity_type().name(), "New");
  // A history written before the patch (no marker, activity "Old") replays
  // cleanly down the old branch.
  HistoryBuilder old;
  old.Start("PatchedOrNot", {}).WorkflowTask().ActivityScheduled("Old");
  old.WorkflowTask(false);
  commands = Replay(registry, old.events, &status);
  ASSERT_OK(status);
  EXPECT_TRUE(commands.empty());
}

Task<int> ThrowsInHandler(WorkflowContext& ctx) {
  ctx.SetSignalHandlerRaw("boom", [](const Payloads&) { throw std::runtime_error("handler bug"); });
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await ctx.ReceiveSignalRaw("never"));
  co_return 1;
}

Task<int> ThrowsInBody(WorkflowContext& ctx) {
  throw std::runtime_error("body bug");
  co_return 1;
}

TEST(WorkflowRuntimeTest, ExceptionsFailTheTaskNotTheProcess) {
  WorkflowRegistry registry;
  ASSERT_OK(registry.Register("ThrowsInHandler", &ThrowsInHandler));
  ASSERT_OK(registry.Register("ThrowsInBody", &ThrowsInBody));
  HistoryBuilder handler;
  handler.Start("ThrowsInHandler", {}).WorkflowTask();
  handler.Add(enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, [](HistoryEvent& e) {
    e.mutable_workflow_execution_signaled_event_attributes()->set_signal_name("boom");
  });
  handler.WorkflowTask(false);
  arrow::Status status;
  auto commands = Replay(registry, handler.events, &status);
  ASSERT_TRUE(status.IsUnknownError()) << status.ToString();
  EXPECT_NE(status.message().find("handler bug"), std::string::npos);
  EXPECT_FALSE(internal::IsNondeterminism(status));

  HistoryBuilder body;
  body.Start("ThrowsInBody", {}).WorkflowTask(false);
  commands = Replay(registry, body.events, &status);
  ASSERT_TRUE(status.IsUnknownError()) << status.ToString();
  EXPECT_NE(status.message().find("body bug"), std::string::npos);
  EXPECT_TRUE(commands.empty());
}

}  // namespace
}  // namespace flightdeck::temporal::workflow
