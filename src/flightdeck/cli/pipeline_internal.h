// flightdeck/cli/pipeline_internal.h: starting a pipeline run and following
// it to the end, shared by `flightdeck run` and `flightdeck demo`.
#pragma once

#include <string>

#include <arrow/result.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/trace_context.h"
#include "flightdeck/pipeline/spec.h"
#include "flightdeck/temporal/client/client.h"

namespace flightdeck::cli {

/// Starts PipelineWorkflow `id` for `spec_text` on spec.task_queue and
/// prints the workflow id. With `wait`, follows the run until it closes
/// (showing progress unless `show_progress` is false: one line redrawn on a
/// terminal, plain lines otherwise), prints the summary and returns the
/// workflow's result; without, returns an empty object at once. With a
/// `tracer`, the run's trace starts here (span "StartWorkflow:...", its id
/// printed) and travels in the start's header. Errors: the client's (AlreadyExists for
/// a taken id), or the run's failure.
arrow::Result<nlohmann::json> RunPipelineWorkflow(temporal::Client& client,
                                                  const std::string& spec_text,
                                                  const std::string& origin,
                                                  const pipeline::PipelineSpec& spec,
                                                  const std::string& id, bool wait,
                                                  bool show_progress = true, SpanSink* tracer = nullptr);

}  // namespace flightdeck::cli
