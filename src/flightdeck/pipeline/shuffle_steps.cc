// The shuffle's steps in PipelineWorkflow (pipeline_steps.h): the range
// shuffle's boundaries and splits, the reduces, and what each does when it
// finds an input lost.
#include <algorithm>

#include "flightdeck/pipeline/pipeline_steps.h"

namespace flightdeck::pipeline::internal {
namespace {

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
    Task<AfterFailure> after = OnStepFailure(ctx, env, state, budget, outcome.status());
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(const AfterFailure next, co_await after);
    if (next == AfterFailure::kFail) co_return outcome.status();
    if (next == AfterFailure::kRetry) continue;
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
    Task<AfterFailure> after = OnStepFailure(ctx, env, state, budget, outcome.status());
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(const AfterFailure next, co_await after);
    if (next == AfterFailure::kFail) co_return outcome.status();
    if (next == AfterFailure::kRetry) continue;
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

}  // namespace

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
    Task<AfterFailure> after = OnStepFailure(ctx, env, state, budget, outcome.status());
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(const AfterFailure next, co_await after);
    if (next == AfterFailure::kFail) co_return outcome.status();
    if (next == AfterFailure::kRetry) continue;
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

Task<void> RunRangeSplits(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state) {
  Task<void> bounds = RunBounds(ctx, env, state);
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await bounds);
  state->phase = "split";
  const auto split = [&ctx, env, state](int32_t map) { return RunSplit(ctx, env, state, map); };
  Task<std::vector<DatasetRef>> splits = InParallel(ctx, env, state, env->spec.partitions, split);
  FLIGHTDECK_CO_RETURN_NOT_OK((co_await splits).status());
  co_return arrow::Status::OK();
}

Task<std::vector<DatasetRef>> RunReduces(WorkflowContext& ctx, std::shared_ptr<Env> env,
                                         std::shared_ptr<RunState> state) {
  state->phase = "reduce";
  state->reduced.assign(static_cast<size_t>(env->shuffle), std::string());
  const auto reduce = [&ctx, env, state](int32_t k) { return RunReduce(ctx, env, state, k); };
  Task<std::vector<DatasetRef>> reduces = InParallel(ctx, env, state, env->shuffle, reduce);
  co_return co_await reduces;
}

}  // namespace flightdeck::pipeline::internal
