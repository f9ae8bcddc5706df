// flightdeck/pipeline/pipeline_steps.h: how PipelineWorkflow runs its
// steps, shared by pipeline_workflow.cc (prepare, the partitions' chains,
// combine, load, commit) and shuffle_steps.cc (the shuffle's bounds, splits
// and reduces): activities with cancellation and timing, near their data,
// and the recomputation of lost inputs. Workflow code: deterministic, run
// on the workflow's thread. Internal to the workflow.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "flightdeck/pipeline/activities.h"
#include "flightdeck/pipeline/pipeline_run_state.h"
#include "flightdeck/pipeline/pipeline_workflow.h"
#include "flightdeck/temporal/workflow/when.h"

namespace flightdeck::pipeline::internal {

using temporal::workflow::Future;
using temporal::workflow::Task;
using temporal::workflow::WorkflowContext;

arrow::Status Canceled(const std::string& run);

// Runs one step's activity. When the workflow is asked to cancel meanwhile,
// the activity is asked to cancel too and waited for: a task no worker took
// yet ends at once, a running one when it acknowledges (a Python stage, at
// its next heartbeat) or finishes, so that what it puts on the nodes is
// there when the run releases its datasets. Cancelled when the workflow was
// asked to cancel.
template <typename T, typename... Args>
Task<T> Step(WorkflowContext& ctx, std::string run, std::string type, ActivityOptions options,
             const Args&... args) {
  if (ctx.IsCancelRequested()) co_return Canceled(run);
  options.cancellation_type = temporal::workflow::ActivityCancellationType::kWaitCancellationCompleted;
  auto started = ctx.StartActivity<T>(std::move(type), options, args...);
  Future<void> cancelled = ctx.CancelRequested();
  Future<size_t> first = temporal::workflow::WhenAnyOf(started.result, cancelled);
  (void)co_await first;
  if (ctx.IsCancelRequested() && !started.result.ready()) started.handle.Cancel();
  auto outcome = co_await started.result;
  if (ctx.IsCancelRequested()) co_return Canceled(run);
  co_return outcome;
}

// Step, its time (workflow time from start to outcome) added to the run's
// step_ms under `kind`.
template <typename T, typename... Args>
Task<T> Timed(WorkflowContext& ctx, std::shared_ptr<RunState> state, std::string kind, std::string run,
              std::string type, ActivityOptions options, const Args&... args) {
  const auto begin = ctx.Now();
  Task<T> step = Step<T>(ctx, std::move(run), std::move(type), std::move(options), args...);
  auto outcome = co_await step;
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.Now() - begin).count();
  state->step_ms[kind] = state->step_ms.value(kind, int64_t{0}) + ms;
  co_return outcome;
}

// A step failed because an input dataset is gone (DatasetLost).
bool IsLost(const arrow::Status& status);

// The node lost the stored spec (restarted without it, or dropped it).
bool IsSpecLost(const arrow::Status& status);

// One more recompute of the run (`what`: spec, chain or combine input), in
// its state and, replay-safe, in flightdeck_pipeline_recomputes.
void CountRecompute(WorkflowContext& ctx, RunState& state, const char* what);

// Stores the spec on the node again (same text, same key).
Task<void> PrepareAgain(WorkflowContext& ctx, std::shared_ptr<const Env> env,
                        std::shared_ptr<RunState> state);

// The run's elapsed time brought up to the workflow's clock.
void Tick(WorkflowContext& ctx, RunState& state);

// The task of a stage activity of partition (or map, or reduce) `partition`.
StageTask TaskOf(const Env& env, const RunState& state, int32_t partition,
                 std::string input = "");

// Whether `status` is an activity's schedule-to-start timeout: no worker
// polled its task queue in time.
bool IsStartTimeout(const arrow::Status& status);

// Timed on the shared task queue, or with spec.locality first on the task
// queue of the workers beside `node` (the node of the step's data), then on
// the shared queue when none took the task within kLocalStartTimeout.
template <typename T, typename... Args>
Task<T> NearData(WorkflowContext& ctx, std::shared_ptr<const Env> env, std::shared_ptr<RunState> state,
                 std::string kind, arrow::Result<std::string> node, std::string type, const Args&... args) {
  if (env->spec.locality && node.ok()) {
    ActivityOptions local = env->options;
    local.task_queue = LocalTaskQueue(env->spec.task_queue, *node);
    local.schedule_to_start_timeout = kLocalStartTimeout;
    Task<T> near = Timed<T>(ctx, state, kind, env->run, type, local, args...);
    auto outcome = co_await near;
    if (outcome.ok() || !IsStartTimeout(outcome.status())) co_return outcome;
  }
  Task<T> shared = Timed<T>(ctx, state, kind, env->run, type, env->options, args...);
  co_return co_await shared;
}

// Waits while paused; Cancelled when cancellation comes first.
Task<void> WhilePaused(WorkflowContext& ctx, std::shared_ptr<RunState> state, std::string run);

// The chain of `partition` (activities.h): its steps in order, each step's
// output the next one's input; its output, staged as part `partition`
// already when the plan has no global stages. A step whose input is gone
// runs the chain again from its first step (the outputs that remain are
// reused).
Task<DatasetRef> PartitionChain(WorkflowContext& ctx, std::shared_ptr<const Env> env,
                                std::shared_ptr<RunState> state, int32_t partition);

// How often a step computed each of its lost inputs again (named as
// DatasetLost names them): one node going may take several inputs of a
// step, so each has kMaxRecomputes tries of its own.
class RecomputeBudget {
 public:
  // Whether `input` may be computed once more (counting this time).
  bool Spend(const std::string& input) { return ++spent_[input] <= kMaxRecomputes; }

 private:
  std::map<std::string, int> spent_;
};

// Runs `recompute()` (a Task<void>) unless another step is computing `key`
// already; then waits for that one to end instead. Steps that lose the same
// input with one node compute it once; the caller retries its step either
// way.
template <typename Recompute>
Task<void> RecomputeOnce(WorkflowContext& ctx, std::shared_ptr<RunState> state, std::string key,
                         Recompute recompute) {
  if (state->recomputing.count(key) != 0) {
    Future<void> done = ctx.WaitCondition([state, key] { return state->recomputing.count(key) == 0; });
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await done);
    co_return arrow::Status::OK();
  }
  state->recomputing.insert(key);
  Task<void> task = recompute();
  const arrow::Status status = co_await task;
  state->recomputing.erase(key);
  co_return status;
}

// What a step does after it failed with `failure`.
enum class AfterFailure {
  kFail,       // not a lost input (that it names), or its budget is spent: the step fails
  kRetry,      // the lost spec was stored again: the step runs again
  kRecompute,  // another input is lost: the caller computes it, then the step runs again
};
Task<AfterFailure> OnStepFailure(WorkflowContext& ctx, std::shared_ptr<const Env> env,
                                 std::shared_ptr<RunState> state, RecomputeBudget& budget, arrow::Status failure);

// Runs the chain of `partition` again for a step that found its output
// lost (`what`: the metric's input label), once for all such steps.
Task<void> ChainAgain(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state,
                      int32_t partition, const char* what, std::string why);

// The map the DatasetLost `status` names when it is one of the spec's
// partitions, else -1.
int32_t LostMap(const Env& env, const arrow::Status& status);

// --- shuffle_steps.cc ----------------------------------------------------------

// The range shuffle's map side after the chains: the boundaries, then every
// map's split (at most spec.parallelism in flight).
Task<void> RunRangeSplits(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state);

// Every reduce of the shuffle, at most spec.parallelism in flight.
Task<std::vector<DatasetRef>> RunReduces(WorkflowContext& ctx, std::shared_ptr<Env> env,
                                         std::shared_ptr<RunState> state);

// Reduce `reduce` of the shuffle; a map whose bucket it finds lost runs
// again (putting only its missing buckets: a hash map's chain, a range
// map's split), the spec is stored again.
Task<DatasetRef> RunReduce(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state,
                           int32_t reduce);

}  // namespace flightdeck::pipeline::internal
