// flightdeck/pipeline/pipeline_workflow.h: PipelineWorkflow, the durable
// control flow of one pipeline run ("flightdeck.Pipeline").
//
// Input: the spec's YAML text, its origin (a file name for error messages)
// and the run id that names the run's datasets and staging folder. It
// parses the spec (an invalid spec fails the workflow with the line and the
// reason), then, in waves of spec.parallelism partitions, runs extract and
// the per-partition stages; then the global stages once over all partitions
// (combine), load of every output part into staging, and commit. Activities
// exchange only DatasetRefs, so the history holds a few hundred bytes per
// partition plus the spec text each activity carries, whatever the data size.
// Activities run on the spec's task_queue with its retry policy; invalid
// input is not retried. They heartbeat while they work, so an attempt whose
// worker died is retried after kActivityHeartbeatTimeout.
//
// Query "progress" answers
//   {"phase": "partitions"|"combine"|"load"|"commit"|"done",
//    "partitions": N, "partitions_done": n, "rows": r, "bytes": b,
//    "rows_per_s": rate, "elapsed_ms": t}
// where rows and bytes count the per-partition outputs so far. Cancelling
// the workflow stops it after the activities in flight (their outputs stay
// on the node; nothing is committed) and it ends as canceled.
//
// Result: {"run", "partitions", "rows" (committed rows), "bytes", "parts"
// (staged part names), "checksums" (of the loaded datasets)}.
#pragma once

#include <chrono>
#include <string>

#include <arrow/status.h>
#include <nlohmann/json.hpp>

#include "flightdeck/temporal/workflow/api.h"

namespace flightdeck::temporal {
class Worker;
}  // namespace flightdeck::temporal

namespace flightdeck::pipeline {

inline constexpr char kPipelineWorkflow[] = "flightdeck.Pipeline";
inline constexpr char kProgressQuery[] = "progress";
/// The heartbeat timeout of every stage activity: how long the server waits
/// for a heartbeat before it retries the attempt (on any worker).
inline constexpr std::chrono::milliseconds kActivityHeartbeatTimeout{3000};

/// The workflow function (see the file comment).
temporal::workflow::Task<nlohmann::json> PipelineWorkflow(temporal::workflow::WorkflowContext& ctx,
                                                          std::string spec_yaml,
                                                          std::string origin, std::string run);

/// Registers PipelineWorkflow as kPipelineWorkflow and the stage activities
/// (activities.h) on `worker`. REQUIRES: before worker.Start().
arrow::Status RegisterPipeline(temporal::Worker& worker);

}  // namespace flightdeck::pipeline
