// The workflow's shared step helpers (pipeline_steps.h): activities as
// steps, the partitions' chains and the recomputation of lost inputs.
#include "flightdeck/pipeline/pipeline_steps.h"

#include <arrow/util/base64.h>

namespace flightdeck::pipeline::internal {
namespace {

using nlohmann::json;

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

// The chain of `partition` once more, its output the new partial.
Task<void> RunChainAgain(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state,
                         int32_t partition) {
  Task<DatasetRef> chain = PartitionChain(ctx, env, state, partition);
  FLIGHTDECK_CO_ASSIGN_OR_RAISE(DatasetRef again, co_await chain);
  if (!again.ticket.empty()) state->partials[static_cast<size_t>(partition)] = again.ticket;
  co_return arrow::Status::OK();
}

}  // namespace

arrow::Status Canceled(const std::string& run) {
  return arrow::Status::Cancelled("pipeline run ", run, " canceled");
}

bool IsLost(const arrow::Status& status) {
  return temporal::ApplicationErrorType(status) == kDatasetLostError;
}

bool IsSpecLost(const arrow::Status& status) {
  return IsLost(status) && LostInputOfFailure(status) == "spec";
}

void CountRecompute(WorkflowContext& ctx, RunState& state, const char* what) {
  state.recomputes += 1;
  ctx.CountMetric("flightdeck_pipeline_recomputes", {{"input", what}});
}

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

StageTask TaskOf(const Env& env, const RunState& state, int32_t partition, std::string input) {
  StageTask task;
  task.spec = state.spec_key;
  task.run = env.task_run;
  task.partition = partition;
  task.input = std::move(input);
  return task;
}

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

Task<void> WhilePaused(WorkflowContext& ctx, std::shared_ptr<RunState> state, std::string run) {
  if (state->paused) {
    Future<void> resumed =
        ctx.WaitCondition([&ctx, state] { return !state->paused || ctx.IsCancelRequested(); });
    FLIGHTDECK_CO_RETURN_NOT_OK(co_await resumed);
  }
  if (ctx.IsCancelRequested()) co_return Canceled(run);
  co_return arrow::Status::OK();
}

Task<void> ChainAgain(WorkflowContext& ctx, std::shared_ptr<Env> env, std::shared_ptr<RunState> state,
                      int32_t partition, const char* what, std::string why) {
  CountRecompute(ctx, *state, what);
  ctx.Log(LogLevel::kWarning, why + ", running partition " + std::to_string(partition) + "'s chain again");
  const auto again = [&ctx, env, state, partition] { return RunChainAgain(ctx, env, state, partition); };
  Task<void> once = RecomputeOnce(ctx, state, "chain/" + std::to_string(partition), again);
  co_return co_await once;
}

int32_t LostMap(const Env& env, const arrow::Status& status) {
  const std::string lost = LostInputOfFailure(status);
  if (lost.empty() || lost.find_first_not_of("0123456789") != std::string::npos) return -1;
  const int32_t map = std::atoi(lost.c_str());
  return map < env.spec.partitions ? map : -1;
}

Task<AfterFailure> OnStepFailure(WorkflowContext& ctx, std::shared_ptr<const Env> env,
                                 std::shared_ptr<RunState> state, RecomputeBudget& budget, arrow::Status failure) {
  const std::string lost = LostInputOfFailure(failure);
  if (!IsLost(failure) || lost.empty() || !budget.Spend(lost)) co_return AfterFailure::kFail;
  if (!IsSpecLost(failure)) co_return AfterFailure::kRecompute;
  Task<void> prepared = PrepareAgain(ctx, env, state);
  FLIGHTDECK_CO_RETURN_NOT_OK(co_await prepared);
  co_return AfterFailure::kRetry;
}

}  // namespace flightdeck::pipeline::internal
