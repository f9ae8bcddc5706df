#include "flightdeck/pipeline/pipeline_workflow.h"

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include <arrow/util/base64.h>

#include "flightdeck/pipeline/activities.h"
#include "flightdeck/pipeline/pipeline_run_state.h"
#include "flightdeck/pipeline/repair.h"
#include "flightdeck/pipeline/spec.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/temporal/worker/worker.h"
#include "flightdeck/temporal/workflow/when.h"

namespace flightdeck::pipeline {
namespace {

using temporal::workflow::ActivityOptions;
using temporal::workflow::Future;
using temporal::workflow::Task;
using temporal::workflow::WorkflowContext;

using nlohmann::json;
using internal::Env;
using internal::RunState;
using internal::kShuffled;

ActivityOptions OptionsFor(const PipelineSpec& spec) {
  ActivityOptions options;
  options.task_queue = spec.task_queue;
  options.start_to_close_timeout = std::chrono::minutes(30);
  // The activities heartbeat while they work: a killed worker's activity is
  // retried elsewhere after this, not after the start-to-close timeout.
  options.heartbeat_timeout = kActivityHeartbeatTimeout;
  temporal::workflow::RetryPolicy retry;
  retry.initial_interval = std::chrono::milliseconds(spec.retry.initial_interval_ms);
  retry.backoff_coefficient = spec.retry.backoff;
  retry.maximum_interval = std::chrono::milliseconds(spec.retry.max_interval_ms);
  retry.maximum_attempts = spec.retry.max_attempts;
  retry.non_retryable_error_types = {kInvalidPipelineError, kDatasetLostError};
  options.retry_policy = retry;
  return options;
}

arrow::Status Canceled(const std::string& run) {
  return arrow::Status::Cancelled("pipeline run ", run, " canceled");
}

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

bool IsLost(const arrow::Status& status) {
  return temporal::ApplicationErrorType(status) == kDatasetLostError;
}

// The node lost the stored spec (restarted without it, or dropped it).
bool IsSpecLost(const arrow::Status& status) {
  return IsLost(status) && LostInputOfFailure(status) == "spec";
}

// One more recompute of the run (`what`: spec, chain or combine input), in
// its state and, replay-safe, in flightdeck_pipeline_recomputes.
void CountRecompute(WorkflowContext& ctx, RunState& state, const char* what) {
  state.recomputes += 1;
  ctx.CountMetric("flightdeck_pipeline_recomputes", {{"input", what}});
}

// Stores the spec on the node again (same text, same key).
Task<void> PrepareAgain(WorkflowContext& ctx, std::shared_ptr<const Env> env,
                        std::shared_ptr<RunState> state) {
  CountRecompute(ctx, *state, "spec");
  ctx.Log(LogLevel::kWarning, "the data node lost the stored spec: storing it again");
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(
      std::string key,
      co_await Timed<std::string>(ctx, state, "prepare", env->run, kPrepareActivity, env->options,
                                  env->yaml, env->origin, env->task_run));
  if (key != state->spec_key) {
    co_return arrow::Status::Invalid("the spec stored again has key ", key, ", not ",
                                     state->spec_key);
  }
  co_return arrow::Status::OK();
}

void Tick(WorkflowContext& ctx, RunState& state) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          ctx.Now().time_since_epoch())
                          .count();
  state.elapsed_ms = now - state.started_ms;
}

StageTask TaskOf(const Env& env, const RunState& state, int32_t partition,
                 std::string input = "") {
  StageTask task;
  task.spec = state.spec_key;
  task.run = env.task_run;
  task.partition = partition;
  task.input = std::move(input);
  return task;
}

// Whether `status` is an activity's schedule-to-start timeout: no worker
// polled its task queue in time.
bool IsStartTimeout(const arrow::Status& status) {
  for (const temporal::Failure* failure = temporal::FailureOf(status); failure != nullptr;
       failure = failure->has_cause() ? &failure->cause() : nullptr) {
    if (failure->has_timeout_failure_info() &&
        failure->timeout_failure_info().timeout_type() ==
            ::temporal::api::enums::v1::TIMEOUT_TYPE_SCHEDULE_TO_START) {
      return true;
    }
  }
  return false;
}

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

// The Python stage at `index` over `input` (the C++ step before it) on the
// stage's task queue: its output, as a C++ activity would answer it.
Task<DatasetRef> PythonStep(WorkflowContext& ctx, std::shared_ptr<const Env> env, std::shared_ptr<RunState> state,
                            int32_t partition, int index, DatasetRef input) {
  const PipelineSpec& spec = env->spec;
  const StageSpec& stage = spec.stages[index];
  const std::string where = "stage " + std::to_string(index + 1) + " (python '" + stage.name + "', spec line " +
                            std::to_string(stage.line) + "), partition " + std::to_string(partition);
  auto node = NodeFor(spec, partition);
  if (!node.ok()) {
    co_return temporal::ApplicationError(kInvalidPipelineError, node.status().message(), /*non_retryable=*/true);
  }
  ActivityOptions options = env->options;
  options.task_queue = stage.task_queue;
  options.schedule_to_start_timeout = std::chrono::milliseconds(stage.start_timeout_ms);
  options.heartbeat_timeout = kPythonHeartbeatTimeout;
  options.activity_id = std::string(kPythonActivityIdPrefix) + std::to_string(index + 1) + "-p" +
                        std::to_string(partition) + "-" + std::to_string(++state->python_tasks);
  const json request = {
      {"tenant", spec.tenant},
      {"run", env->run},
      {"stage", index},
      {"partition", partition},
      {"transform", stage.name},
      {"durable", spec.durable},
      {"lease_seconds", (spec.dataset_lease_ms + 999) / 1000},
      {"input",
       {{"node", *node},
        {"ticket", arrow::util::base64_encode(ExpandTicket(spec.tenant, input.ticket))},
        {"rows", input.rows},
        {"bytes", input.bytes},
        {"checksum", input.checksum}}}};
  state->python_in_flight[index] += 1;
  auto answer = co_await Timed<json>(ctx, state, "python", env->run, kPythonStageActivity, options, request);
  state->python_in_flight[index] -= 1;
  if (!answer.ok()) {
    if (IsStartTimeout(answer.status())) {
      co_return temporal::ApplicationError(
          kInvalidPipelineError,
          where + ": no Python stage worker took the task from task queue '" + stage.task_queue + "' within " +
              std::to_string(stage.start_timeout_ms) + " ms; start one with `python -m flightdeck_stage "
              "--address HOST:PORT --task-queue " + stage.task_queue + " --transforms MODULE`",
          /*non_retryable=*/true);
    }
    co_return answer.status();
  }
  DatasetRef output;
  try {
    auto ticket = arrow::util::base64_decode(answer->at("ticket").get<std::string>());
    if (!ticket.ok() || ticket->empty()) throw std::invalid_argument("ticket is not base64");
    output.ticket = CompactTicket(spec.tenant, *ticket);
    output.rows = answer->at("rows").get<int64_t>();
    output.bytes = answer->value("bytes", int64_t{0});
    output.checksum = answer->value("checksum", std::string());
  } catch (const std::exception& e) {
    co_return temporal::ApplicationError(kInvalidPipelineError,
                                         where + ": the Python stage answered no dataset: " + e.what(),
                                         /*non_retryable=*/true);
  }
  co_return output;
}

// Whether a step failed because its input dataset is gone: a C++ step's
// DatasetLost, or the Python stage worker's UnknownTicket.
bool IsStepInputLost(const arrow::Status& status) {
  return IsLost(status) || temporal::ApplicationErrorType(status) == "UnknownTicket";
}

// The chain of `partition` (activities.h): its steps in order, each step's
// output the next one's input; its output, staged as part `partition`
// already when the plan has no global stages. A step whose input is gone
// runs the chain again from its first step (the outputs that remain are
// reused).
Task<DatasetRef> PartitionChain(WorkflowContext& ctx, std::shared_ptr<const Env> env,
                                std::shared_ptr<RunState> state, int32_t partition) {
  for (int again = 0;; ++again) {
    DatasetRef previous;
    bool has_previous = false;
    std::pair<int64_t, int64_t> source;  // rows, bytes the first step read
    arrow::Status failed;
    for (const ChainStep& step : env->steps) {
      if (ctx.IsCancelRequested() || state->stopping) co_return Canceled(env->run);
      state->work_started = true;
      if (step.is_python()) {
        Task<DatasetRef> python = PythonStep(ctx, env, state, partition, step.python, previous);
        auto output = co_await python;
        if (!output.ok()) {
          failed = output.status();
          break;
        }
        previous = std::move(*output);
        continue;
      }
      StageTask task = TaskOf(*env, *state, partition, has_previous ? previous.ticket : "");
      if (env->steps.size() > 1) {
        task.range = {static_cast<int32_t>(step.range.begin), static_cast<int32_t>(step.range.end)};
      }
      if (env->inline_spec && !has_previous) {
        task.yaml = env->yaml;
        task.origin = env->origin;
      }
      Task<DatasetRef> step_task = NearData<DatasetRef>(ctx, env, state, "partition", NodeFor(env->spec, partition),
                                                        kPartitionActivity, task);
      auto output = co_await step_task;
      if (!output.ok()) {
        failed = output.status();
        break;
      }
      if (!has_previous) source = {output->source_rows, output->source_bytes};
      previous = std::move(*output);
      has_previous = true;
    }
    if (failed.ok()) {
      // The chain's output, with what its first step read of the source.
      previous.source_rows = source.first;
      previous.source_bytes = source.second;
      co_return previous;
    }
    if (again >= kMaxRecomputes) co_return failed;
    if (IsSpecLost(failed)) {
      Task<void> prepared = PrepareAgain(ctx, env, state);
      FLIGHTDECK_CO_RETURN_NOT_OK(co_await prepared);
      continue;
    }
    if (env->steps.size() > 1 && IsStepInputLost(failed)) {
      CountRecompute(ctx, *state, "chain");
      ctx.Log(LogLevel::kWarning, "partition " + std::to_string(partition) +
                                      ": a step's input is gone, running the chain again");
      continue;
    }
    co_return failed;
  }
}

// One partition's chain; records its outcome in `state`.
Task<void> RunPartition(WorkflowContext& ctx, std::shared_ptr<const Env> env,
                        std::shared_ptr<RunState> state, int32_t partition) {
  Task<DatasetRef> chain = PartitionChain(ctx, env, state, partition);
  auto output = co_await chain;
  if (output.ok()) {
    if (env->shuffle > 0 && !env->range) {
      state->partials[partition] = kShuffled;
    } else if (env->global || env->shuffle > 0) {
      state->partials[partition] = output->ticket;
    } else {
      state->parts[partition] = PartName(env->spec, partition);
    }
    state->checksums[partition] = output->checksum;
    state->partitions_done += 1;
    state->rows += output->rows;
    state->bytes += output->bytes;
    state->source_rows += output->source_rows;
    state->source_bytes += output->source_bytes;
  }
  Tick(ctx, *state);
  state->events += 1;
  co_return output.status();
}

// Waits while paused; Cancelled when cancellation comes first.
Task<void> WhilePaused(WorkflowContext& ctx, std::shared_ptr<RunState> state, std::string run) {
  if (state->paused) {
    Future<void> resumed =
        ctx.WaitCondition([&ctx, state] { return !state->paused || ctx.IsCancelRequested(); });
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await resumed);
  }
  if (ctx.IsCancelRequested()) co_return Canceled(run);
  co_return arrow::Status::OK();
}

// Renews the lease of the run's datasets every third of it while the run
// works (a short run never renews: its datasets outlive it by the lease).
Task<void> KeepLeases(WorkflowContext& ctx, std::shared_ptr<const Env> env, std::shared_ptr<RunState> state) {
  const auto every = std::chrono::milliseconds(std::max<int64_t>(1000, env->spec.dataset_lease_ms / 3));
  while (true) {
    auto slept = co_await ctx.Sleep(every);
    if (!slept.ok() || state->closed) co_return arrow::Status::OK();
    if (state->spec_key.empty()) continue;
    auto renewed = co_await ctx.ExecuteActivity<int64_t>(kRenewActivity, env->options, TaskOf(*env, *state, 0));
    if (!renewed.ok()) {
      ctx.Log(LogLevel::kWarning, "renewing the lease of the run's datasets failed: " + renewed.status().message());
    }
  }
}

// The spec stored on the nodes under state->spec_key: by prepare, or, for
// one partition, by the partition's first step (no prepare on the critical
// path: that step's input carries the spec's text, once in history as
// prepare's would, and stores it under the key computed here).
Task<void> StoreSpecOnce(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state) {
  if (!state->spec_key.empty()) co_return arrow::Status::OK();
  if (env->spec.partitions == 1) {
    auto key = SpecKeyOf(env->spec, env->yaml, env->run);
    if (!key.ok()) {
      co_return temporal::ApplicationError(kInvalidPipelineError, key.status().message(),
                                           /*non_retryable=*/true);
    }
    state->spec_key = *key;
    env->inline_spec = true;
    co_return arrow::Status::OK();
  }
  Task<std::string> prepared = Timed<std::string>(ctx, state, "prepare", env->run, kPrepareActivity, env->options,
                                                  env->yaml, env->origin, env->task_run);
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(state->spec_key, co_await prepared);
  co_return arrow::Status::OK();
}

// Every partition's chain, at most spec.parallelism in flight, each on its
// own. Fails with the first chain's failure (the others stop after their
// current step and end first), Cancelled on cancellation, or the
// continue-as-new status once this run started continue_as_new_after
// partitions.
Task<void> RunPartitions(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state) {
  const PipelineSpec& spec = env->spec;
  const size_t parallelism = static_cast<size_t>(std::max<int32_t>(1, spec.parallelism));
  int32_t started_here = 0;
  std::vector<Task<void>> in_flight;
  while (state->next < spec.partitions || !in_flight.empty()) {
    if (ctx.IsCancelRequested()) {
      // No step starts any more; the ones in flight end first (their
      // outputs are released with the run's datasets).
      for (auto& chain : in_flight) (void)co_await chain;
      co_return Canceled(env->run);
    }
    while (!state->paused && in_flight.size() < parallelism && state->next < spec.partitions &&
           started_here < spec.continue_as_new_after) {
      in_flight.push_back(RunPartition(ctx, env, state, state->next));
      state->next += 1;
      started_here += 1;
    }
    if (in_flight.empty()) {
      if (state->next < spec.partitions && started_here >= spec.continue_as_new_after) {
        const temporal::workflow::ContinueAsNewOptions next_run;
        state->continued_as_new = true;
        co_return ctx.ContinueAsNew(next_run, env->yaml, env->origin, env->run, state->ToCarried());
      }
      Task<void> resumed = WhilePaused(ctx, state, env->run);
      FLIGHTDECK_CO_RETURN_NOT_OK(co_await resumed);
      continue;
    }
    // Until a chain finishes, pause or resume changes what may start, or
    // cancellation.
    const int64_t events = state->events;
    const bool paused = state->paused;
    Future<void> wake = ctx.WaitCondition([&ctx, state, events, paused] {
      return state->events != events || state->paused != paused || ctx.IsCancelRequested();
    });
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await wake);
    for (size_t i = 0; i < in_flight.size();) {
      if (!in_flight[i].ready()) {
        ++i;
        continue;
      }
      const arrow::Status finished = co_await in_flight[i];
      in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(i));
      if (!finished.ok()) {
        state->stopping = true;
        for (auto& chain : in_flight) (void)co_await chain;
        co_return finished;
      }
    }
  }
  co_return arrow::Status::OK();
}

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

// The chain of `partition` once more, its output the new partial.
Task<void> RunChainAgain(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state,
                         int32_t partition) {
  Task<DatasetRef> chain = PartitionChain(ctx, env, state, partition);
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(DatasetRef again, co_await chain);
  if (!again.ticket.empty()) state->partials[static_cast<size_t>(partition)] = again.ticket;
  co_return arrow::Status::OK();
}

// Runs the chain of `partition` again for a step that found its output
// lost (`what`: the metric's input label), once for all such steps.
Task<void> ChainAgain(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state,
                      int32_t partition, const char* what, std::string why) {
  CountRecompute(ctx, *state, what);
  ctx.Log(LogLevel::kWarning, why + ", running partition " + std::to_string(partition) + "'s chain again");
  const auto again = [&ctx, env, state, partition] { return RunChainAgain(ctx, env, state, partition); };
  Task<void> once = RecomputeOnce(ctx, state, "chain/" + std::to_string(partition), again);
  co_return co_await once;
}

// The map the DatasetLost `status` names when it is one of the spec's
// partitions, else -1.
int32_t LostMap(const Env& env, const arrow::Status& status) {
  const std::string lost = LostInputOfFailure(status);
  if (lost.empty() || lost.find_first_not_of("0123456789") != std::string::npos) return -1;
  const int32_t map = std::atoi(lost.c_str());
  return map < env.spec.partitions ? map : -1;
}

// The boundaries of the range shuffle; a map whose sample is lost runs its
// chain again (which samples again).
Task<void> RunBounds(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state) {
  RecomputeBudget budget;
  while (true) {
    Task<void> resumed = WhilePaused(ctx, state, env->run);
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await resumed);
    state->phase = "bounds";
    Task<DatasetRef> step = Timed<DatasetRef>(ctx, state, "bounds", env->run, kBoundsActivity, env->options,
                                              TaskOf(*env, *state, 0));
    auto outcome = co_await step;
    if (outcome.ok()) co_return arrow::Status::OK();
    if (!IsLost(outcome.status()) || !budget.Spend(LostInputOfFailure(outcome.status()))) {
      co_return outcome.status();
    }
    if (IsSpecLost(outcome.status())) {
      Task<void> prepared = PrepareAgain(ctx, env, state);
      FLIGHTDECK_CO_RETURN_NOT_OK(co_await prepared);
      continue;
    }
    const int32_t map = LostMap(*env, outcome.status());
    if (map < 0) co_return outcome.status();
    Task<void> again = ChainAgain(ctx, env, state, map, "sample", "bounds: the sort sample of map " +
                                                                      std::to_string(map) + " is lost");
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await again);
  }
}

// Map `map`'s split into the range shuffle's buckets; lost boundaries are
// computed again, a lost map output by the map's chain.
Task<DatasetRef> RunSplit(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state,
                          int32_t map) {
  RecomputeBudget budget;
  while (true) {
    Task<void> resumed = WhilePaused(ctx, state, env->run);
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await resumed);
    const StageTask task = TaskOf(*env, *state, map, state->partials[static_cast<size_t>(map)]);
    Task<DatasetRef> step =
        NearData<DatasetRef>(ctx, env, state, "split", NodeFor(env->spec, map), kSplitActivity, task);
    auto outcome = co_await step;
    if (outcome.ok()) co_return outcome;
    if (!IsLost(outcome.status()) || !budget.Spend(LostInputOfFailure(outcome.status()))) {
      co_return outcome.status();
    }
    if (IsSpecLost(outcome.status())) {
      Task<void> prepared = PrepareAgain(ctx, env, state);
      FLIGHTDECK_CO_RETURN_NOT_OK(co_await prepared);
      continue;
    }
    if (LostInputOfFailure(outcome.status()) == "bounds") {
      CountRecompute(ctx, *state, "bounds");
      const auto again = [&ctx, env, state] { return RunBounds(ctx, env, state); };
      Task<void> bounds = RecomputeOnce(ctx, state, "bounds", again);
      FLIGHTDECK_CO_RETURN_NOT_OK(co_await bounds);
      state->phase = state->reduced.empty() ? "split" : "reduce";
      continue;
    }
    if (LostMap(*env, outcome.status()) != map) co_return outcome.status();
    Task<void> again =
        ChainAgain(ctx, env, state, map, "partition", "split: the output of map " + std::to_string(map) + " is lost");
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await again);
  }
}

// RunSplit of `map` once more (its buckets put again).
Task<void> SplitAgain(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state, int32_t map) {
  Task<DatasetRef> split = RunSplit(ctx, env, state, map);
  FLIGHTDECK_CO_RETURN_NOT_OK((co_await split).status());
  co_return arrow::Status::OK();
}

// Reduce `reduce` of the shuffle; a map whose bucket it finds lost runs
// again (putting only its missing buckets: a hash map's chain, a range
// map's split), the spec is stored again.
Task<DatasetRef> RunReduce(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state,
                           int32_t reduce) {
  RecomputeBudget budget;
  while (true) {
    Task<void> resumed = WhilePaused(ctx, state, env->run);
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await resumed);
    const StageTask task = TaskOf(*env, *state, reduce);
    Task<DatasetRef> step = NearData<DatasetRef>(ctx, env, state, "reduce", ReduceNodeFor(env->spec, reduce),
                                                 kReduceActivity, task);
    auto outcome = co_await step;
    if (outcome.ok()) {
      state->reduced[reduce] = outcome->ticket;
      state->events += 1;
      co_return outcome;
    }
    if (!IsLost(outcome.status()) || !budget.Spend(LostInputOfFailure(outcome.status()))) {
      co_return outcome.status();
    }
    if (IsSpecLost(outcome.status())) {
      Task<void> prepared = PrepareAgain(ctx, env, state);
      FLIGHTDECK_CO_RETURN_NOT_OK(co_await prepared);
      continue;
    }
    const int32_t map = LostMap(*env, outcome.status());
    if (map < 0) co_return outcome.status();
    const std::string why = "reduce " + std::to_string(reduce) + ": a bucket of map " + std::to_string(map) + " is lost";
    if (!env->range) {
      // A hash map's chain puts only its missing buckets.
      Task<void> again = ChainAgain(ctx, env, state, map, "bucket", why);
      FLIGHTDECK_CO_RETURN_NOT_OK(co_await again);
      continue;
    }
    CountRecompute(ctx, *state, "bucket");
    ctx.Log(LogLevel::kWarning, why + ", splitting the map again");
    const auto split = [&ctx, env, state, map]() -> Task<void> { return SplitAgain(ctx, env, state, map); };
    Task<void> again = RecomputeOnce(ctx, state, "split/" + std::to_string(map), split);
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await again);
  }
}

// `start(i)` for every i in [0, count), at most spec.parallelism in
// flight; their outputs by index. Fails with the first failure (after the
// others in flight ended).
template <typename Start>
Task<std::vector<DatasetRef>> InParallel(WorkflowContext& ctx, std::shared_ptr<Env> env,
                                         std::shared_ptr<RunState> state, int32_t count, Start start) {
  const size_t parallelism = static_cast<size_t>(std::max<int32_t>(1, env->spec.parallelism));
  std::vector<DatasetRef> outputs(static_cast<size_t>(count));
  std::vector<std::pair<int32_t, Task<DatasetRef>>> in_flight;
  int32_t next = 0;
  arrow::Status failed;
  while ((next < count && failed.ok()) || !in_flight.empty()) {
    while (failed.ok() && next < count && in_flight.size() < parallelism) {
      in_flight.emplace_back(next, start(next));
      next += 1;
    }
    const int64_t events = state->events;
    Future<void> wake = ctx.WaitCondition([state, events, &in_flight] {
      if (state->events != events) return true;
      for (auto& [index, task] : in_flight) {
        if (task.ready()) return true;
      }
      return false;
    });
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await wake);
    for (size_t i = 0; i < in_flight.size();) {
      if (!in_flight[i].second.ready()) {
        ++i;
        continue;
      }
      auto output = co_await in_flight[i].second;
      if (output.ok()) {
        outputs[static_cast<size_t>(in_flight[i].first)] = std::move(*output);
      } else if (failed.ok()) {
        failed = output.status();
      }
      in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  FLIGHTDECK_CO_RETURN_NOT_OK(failed);
  co_return outputs;
}

// The range shuffle's map side after the chains: the boundaries, then
// every map's split.
Task<void> RunRangeSplits(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state) {
  Task<void> bounds = RunBounds(ctx, env, state);
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await bounds);
  state->phase = "split";
  const auto split = [&ctx, env, state](int32_t map) { return RunSplit(ctx, env, state, map); };
  Task<std::vector<DatasetRef>> splits = InParallel(ctx, env, state, env->spec.partitions, split);
  FLIGHTDECK_CO_RETURN_NOT_OK((co_await splits).status());
  co_return arrow::Status::OK();
}

// Every reduce of the shuffle, at most spec.parallelism in flight.
Task<std::vector<DatasetRef>> RunReduces(WorkflowContext& ctx, std::shared_ptr<Env> env,
                                         std::shared_ptr<RunState> state) {
  state->phase = "reduce";
  state->reduced.assign(static_cast<size_t>(env->shuffle), std::string());
  const auto reduce = [&ctx, env, state](int32_t k) { return RunReduce(ctx, env, state, k); };
  Task<std::vector<DatasetRef>> reduces = InParallel(ctx, env, state, env->shuffle, reduce);
  co_return co_await reduces;
}

// One combine over every partition's output (after a shuffle, every
// reduce's); an input it finds lost is computed again by its partition's
// chain or its reduce (the spec, by prepare again).
Task<DatasetRef> CombinePartitions(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state) {
  RecomputeBudget budget;
  while (true) {
    Task<void> resumed = WhilePaused(ctx, state, env->run);
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await resumed);
    state->phase = "combine";
    StageTask task = TaskOf(*env, *state, 0);
    task.inputs = env->shuffle > 0 ? state->reduced : state->partials;
    Task<DatasetRef> combine = Timed<DatasetRef>(ctx, state, "combine", env->run, kCombineActivity, env->options, task);
    auto outcome = co_await combine;
    if (outcome.ok()) co_return outcome;
    const std::string lost = LostInputOfFailure(outcome.status());
    if (!IsLost(outcome.status()) || lost.empty() || !budget.Spend(lost)) {
      co_return outcome.status();
    }
    if (lost == "spec") {
      Task<void> prepared = PrepareAgain(ctx, env, state);
      FLIGHTDECK_CO_RETURN_NOT_OK(co_await prepared);
      continue;
    }
    const int32_t partition = std::atoi(lost.c_str());
    if (env->shuffle > 0) {
      if (partition < 0 || partition >= env->shuffle) co_return outcome.status();
      CountRecompute(ctx, *state, "reduce");
      ctx.Log(LogLevel::kWarning, "combine: output of reduce " + lost + " lost, computing it again");
      Task<DatasetRef> reduce = RunReduce(ctx, env, state, partition);
      auto again = co_await reduce;
      if (!again.ok()) co_return again.status();
      continue;
    }
    if (partition < 0 || partition >= env->spec.partitions) co_return outcome.status();
    Task<void> again = ChainAgain(ctx, env, state, partition, "partition", "combine: its output is lost");
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await again);
  }
}

// The run's work: the spec stored, the partitions' chains, combine and load
// when the spec has global stages, commit. Its result is the run's summary.
Task<json> RunBody(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state) {
  const std::string& run = env->run;
  Task<void> stored = StoreSpecOnce(ctx, env, state);
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await stored);
  Task<void> partitions = RunPartitions(ctx, env, state);
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await partitions);

  std::vector<std::string> parts = state->parts;
  std::vector<std::string> checksums = state->checksums;
  int64_t rows = state->rows;
  int64_t bytes = state->bytes;
  if (env->shuffle > 0) {
    if (env->range) {
      Task<void> splits = RunRangeSplits(ctx, env, state);
      FLIGHTDECK_CO_RETURN_NOT_OK(co_await splits);
    }
    Task<std::vector<DatasetRef>> reduces = RunReduces(ctx, env, state);
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(std::vector<DatasetRef> reduced, co_await reduces);
    if (!env->global) {
      // Each reduce loaded its output as its part of the sink.
      parts.clear();
      checksums.clear();
      rows = 0;
      bytes = 0;
      for (size_t k = 0; k < reduced.size(); ++k) {
        parts.push_back(PartName(env->spec, static_cast<int32_t>(k)));
        checksums.push_back(reduced[k].checksum);
        rows += reduced[k].rows;
        bytes += reduced[k].bytes;
      }
    }
  }
  if (env->global) {
    Task<DatasetRef> combine = CombinePartitions(ctx, env, state);
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(DatasetRef combined, co_await combine);
    Task<void> resumed = WhilePaused(ctx, state, run);
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await resumed);
    state->phase = "load";
    const StageTask load_task = TaskOf(*env, *state, 0, combined.ticket);
    Task<std::string> load = Timed<std::string>(ctx, state, "load", run, kLoadActivity, env->options, load_task);
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(std::string part, co_await load);
    parts = {part};
    checksums = {combined.checksum};
    rows = combined.rows;
    bytes = combined.bytes;
  }

  Task<void> resumed = WhilePaused(ctx, state, run);
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await resumed);
  state->phase = "commit";
  // Once commit started it runs to its end: a half-published sink is worse
  // than a late cancel.
  StageTask commit_task = TaskOf(*env, *state, 0);
  commit_task.parts = parts;
  const auto commit_began = ctx.Now();
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await ctx.ExecuteActivity<void>(kCommitActivity, env->options, commit_task));
  state->step_ms["commit"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(ctx.Now() - commit_began).count();
  state->released = true;  // commit released the run's datasets
  state->phase = "done";
  Tick(ctx, *state);
  co_return json{{"run", run},
                 {"partitions", env->spec.partitions},
                 {"rows", rows},
                 {"bytes", bytes},
                 {"source_rows", state->source_rows},
                 {"source_bytes", state->source_bytes},
                 {"step_ms", state->step_ms},
                 {"parts", parts},
                 {"checksums", checksums},
                 {"elapsed_ms", state->elapsed_ms},
                 {"recomputes", state->recomputes},
                 {"runs", state->runs}};
}

}  // namespace

Task<json> PipelineWorkflow(WorkflowContext& ctx, std::string spec_yaml, std::string origin,
                            std::string run, json carried) {
  auto parsed = ParsePipelineSpec(spec_yaml, origin);
  if (!parsed.ok()) {
    co_return temporal::ApplicationError(kInvalidPipelineError, parsed.status().message(),
                                         /*non_retryable=*/true);
  }
  auto env = std::make_shared<Env>();
  env->run = run;
  env->yaml = spec_yaml;
  env->origin = origin;
  env->task_run = run == ctx.info().workflow_id ? std::string() : run;
  env->spec = std::move(*parsed);
  env->plan = PlanStages(env->spec);
  env->steps = ChainSteps(env->spec);
  env->options = OptionsFor(env->spec);
  env->global = !env->plan.global.empty();
  env->shuffle = env->plan.shuffle;
  env->range = env->plan.range;
  const PipelineSpec& spec = env->spec;
  const ActivityOptions options = env->options;

  auto restored = RunState::FromCarried(carried, spec.partitions);
  if (!restored.ok()) {
    co_return temporal::ApplicationError(kInvalidPipelineError, restored.status().message(),
                                         /*non_retryable=*/true);
  }
  auto state = std::make_shared<RunState>(std::move(*restored));
  if (carried.is_null()) {
    state->started_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            ctx.Now().time_since_epoch())
                            .count();
  }
  Tick(ctx, *state);
  for (size_t i = 0; i < spec.stages.size(); ++i) {
    if (spec.stages[i].kind != StageSpec::Kind::kPython) continue;
    state->python_stages.push_back(
        {{"stage", i + 1}, {"transform", spec.stages[i].name}, {"queue", spec.stages[i].task_queue}});
  }
  ctx.SetQueryHandler<json>(kProgressQuery, [state] { return state->Progress(); });
  ctx.SetSignalHandlerRaw(kPauseSignal, [state](const temporal::Payloads&) { state->paused = true; });
  ctx.SetSignalHandlerRaw(kResumeSignal,
                          [state](const temporal::Payloads&) { state->paused = false; });

  Task<void> leases = KeepLeases(ctx, env, state);  // beside the run, until it ends
  Task<json> body = RunBody(ctx, env, state);
  auto outcome = co_await body;
  state->closed = true;
  if (!state->continued_as_new && state->work_started && !state->released) {
    // The run failed or was canceled (a committed run's commit released
    // them): its datasets go, or stay for the spec's retention. Best
    // effort: what stays expires with its lease, and `flightdeck gc` drops it.
    auto released = co_await ctx.ExecuteActivity<int64_t>(kReleaseActivity, env->options, TaskOf(*env, *state, 0));
    if (!released.ok()) {
      ctx.Log(LogLevel::kWarning, "releasing the run's datasets failed (they expire with their lease): " +
                                      released.status().message());
    }
  }
  co_return outcome;
}

arrow::Status RegisterPipeline(temporal::Worker& worker, std::shared_ptr<frame::EnginePool> engines,
                               std::shared_ptr<observe::Metrics> metrics) {
  ARROW_RETURN_NOT_OK(worker.RegisterWorkflow(kPipelineWorkflow, &PipelineWorkflow));
  ARROW_RETURN_NOT_OK(RegisterRepair(worker, metrics));
  return RegisterPipelineActivities(worker, std::move(engines), std::move(metrics));
}

}  // namespace flightdeck::pipeline
