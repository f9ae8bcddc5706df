#include "flightdeck/pipeline/pipeline_workflow.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "flightdeck/pipeline/activities.h"
#include "flightdeck/pipeline/pipeline_steps.h"
#include "flightdeck/pipeline/repair.h"
#include "flightdeck/pipeline/spec.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/temporal/worker/worker.h"

namespace flightdeck::pipeline {
namespace {

using temporal::workflow::ActivityOptions;
using nlohmann::json;
using namespace internal;

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
    Task<AfterFailure> after = OnStepFailure(ctx, env, state, budget, outcome.status());
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(const AfterFailure next, co_await after);
    if (next == AfterFailure::kFail) co_return outcome.status();
    if (next == AfterFailure::kRetry) continue;
    const std::string lost = LostInputOfFailure(outcome.status());
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
