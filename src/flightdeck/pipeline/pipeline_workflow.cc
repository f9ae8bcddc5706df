#include "flightdeck/pipeline/pipeline_workflow.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "flightdeck/pipeline/activities.h"
#include "flightdeck/pipeline/spec.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/temporal/worker/worker.h"

namespace flightdeck::pipeline {
namespace {

using temporal::workflow::ActivityOptions;
using temporal::workflow::Future;
using temporal::workflow::Task;
using temporal::workflow::WorkflowContext;

struct Progress {
  std::string phase = "partitions";
  int64_t partitions = 0;
  int64_t partitions_done = 0;
  int64_t rows = 0;
  int64_t bytes = 0;
  int64_t elapsed_ms = 0;

  nlohmann::json ToJson() const {
    const double rate = elapsed_ms > 0 ? static_cast<double>(rows) * 1000.0 / elapsed_ms : 0.0;
    return {{"phase", phase}, {"partitions", partitions}, {"partitions_done", partitions_done},
            {"rows", rows},   {"bytes", bytes},           {"rows_per_s", rate},
            {"elapsed_ms", elapsed_ms}};
  }
};

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
  retry.non_retryable_error_types = {kInvalidPipelineError};
  options.retry_policy = retry;
  return options;
}

// The values of `futures` in order, or Cancelled as soon as the workflow is
// asked to cancel (activities still scheduled are left to the server, which
// drops them when the run closes), or the first failure.
template <typename T>
Task<std::vector<T>> AllOrCancelled(std::vector<Future<T>> futures, Future<void> cancelled,
                                    std::string run) {
  std::vector<T> values;
  values.reserve(futures.size());
  for (auto& future : futures) {
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(size_t winner,
                                  co_await temporal::workflow::WhenAnyOf(future, cancelled));
    if (winner == 1) co_return arrow::Status::Cancelled("pipeline run ", run, " canceled");
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(T value, co_await future);
    values.push_back(std::move(value));
  }
  co_return values;
}

}  // namespace

Task<nlohmann::json> PipelineWorkflow(WorkflowContext& ctx, std::string spec_yaml,
                                      std::string origin, std::string run) {
  auto parsed = ParsePipelineSpec(spec_yaml, origin);
  if (!parsed.ok()) {
    co_return temporal::ApplicationError(kInvalidPipelineError, parsed.status().message(),
                                         /*non_retryable=*/true);
  }
  const PipelineSpec spec = std::move(*parsed);
  const StagePlan plan = PlanStages(spec);
  const ActivityOptions options = OptionsFor(spec);
  const auto started = ctx.Now();
  const Future<void> cancelled = ctx.CancelRequested();

  auto progress = std::make_shared<Progress>();
  progress->partitions = spec.partitions;
  ctx.SetQueryHandler<nlohmann::json>(kProgressQuery, [progress] { return progress->ToJson(); });
  auto tick = [&] {
    progress->elapsed_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(ctx.Now() - started).count();
  };
  const int64_t per_begin = static_cast<int64_t>(plan.per_partition.begin);
  const int64_t per_end = static_cast<int64_t>(plan.per_partition.end);

  // Extract and per-partition stages, spec.parallelism partitions at a time.
  std::vector<DatasetRef> outputs;
  outputs.reserve(spec.partitions);
  const int32_t wave = std::max<int32_t>(1, spec.parallelism);
  for (int32_t first = 0; first < spec.partitions; first += wave) {
    if (ctx.IsCancelRequested()) co_return arrow::Status::Cancelled("pipeline run ", run, " canceled");
    const int32_t last = std::min(spec.partitions, first + wave);
    std::vector<Future<DatasetRef>> extracts;
    for (int32_t p = first; p < last; ++p) {
      extracts.push_back(ctx.ExecuteActivity<DatasetRef>(kExtractActivity, options, spec_yaml, run, p));
    }
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(std::vector<DatasetRef> extracted,
                                  co_await AllOrCancelled(extracts, cancelled, run));
    std::vector<Future<DatasetRef>> transforms;
    for (int32_t p = first; p < last; ++p) {
      transforms.push_back(ctx.ExecuteActivity<DatasetRef>(
          kTransformActivity, options, spec_yaml, run, p, extracted[p - first], per_begin, per_end));
    }
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(std::vector<DatasetRef> transformed,
                                  co_await AllOrCancelled(transforms, cancelled, run));
    for (auto& ref : transformed) {
      progress->partitions_done += 1;
      progress->rows += ref.rows;
      progress->bytes += ref.bytes;
      outputs.push_back(std::move(ref));
    }
    tick();
  }

  if (!plan.global.empty()) {
    if (ctx.IsCancelRequested()) co_return arrow::Status::Cancelled("pipeline run ", run, " canceled");
    progress->phase = "combine";
    std::vector<Future<DatasetRef>> combine = {ctx.ExecuteActivity<DatasetRef>(
        kCombineActivity, options, spec_yaml, run, outputs,
        static_cast<int64_t>(plan.global.begin), static_cast<int64_t>(plan.global.end))};
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(outputs, co_await AllOrCancelled(combine, cancelled, run));
  }

  if (ctx.IsCancelRequested()) co_return arrow::Status::Cancelled("pipeline run ", run, " canceled");
  progress->phase = "load";
  std::vector<std::string> staged;
  for (size_t first = 0; first < outputs.size(); first += wave) {
    const size_t last = std::min(outputs.size(), first + wave);
    std::vector<Future<std::string>> loads;
    for (size_t i = first; i < last; ++i) {
      loads.push_back(ctx.ExecuteActivity<std::string>(kLoadActivity, options, spec_yaml, run,
                                                       static_cast<int32_t>(i), outputs[i]));
    }
    FLIGHTDECK_CO_ASSIGN_OR_RAISE(std::vector<std::string> done,
                                  co_await AllOrCancelled(loads, cancelled, run));
    staged.insert(staged.end(), done.begin(), done.end());
  }

  if (ctx.IsCancelRequested()) co_return arrow::Status::Cancelled("pipeline run ", run, " canceled");
  progress->phase = "commit";
  // Once commit started it runs to its end: a half-published sink is worse
  // than a late cancel.
  FLIGHTDECK_CO_RETURN_NOT_OK(
      co_await ctx.ExecuteActivity<void>(kCommitActivity, options, spec_yaml, run, staged));
  progress->phase = "done";
  tick();

  int64_t rows = 0, bytes = 0;
  nlohmann::json checksums = nlohmann::json::array();
  for (const auto& ref : outputs) {
    rows += ref.rows;
    bytes += ref.bytes;
    checksums.push_back(ref.checksum);
  }
  co_return nlohmann::json{{"run", run},     {"partitions", spec.partitions}, {"rows", rows},
                           {"bytes", bytes}, {"parts", staged},               {"checksums", checksums},
                           {"elapsed_ms", progress->elapsed_ms}};
}

arrow::Status RegisterPipeline(temporal::Worker& worker) {
  ARROW_RETURN_NOT_OK(worker.RegisterWorkflow(kPipelineWorkflow, &PipelineWorkflow));
  return RegisterPipelineActivities(worker);
}

}  // namespace flightdeck::pipeline
