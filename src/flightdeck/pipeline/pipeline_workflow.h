// flightdeck/pipeline/pipeline_workflow.h: PipelineWorkflow, the durable
// control flow of one pipeline run ("flightdeck.Pipeline").
//
// Input: the spec's YAML text, its origin (a file name for error messages),
// the run id that names the run's datasets and staging folder, and (only in
// runs continued as new) the state carried over. It parses the spec (an
// invalid spec fails the workflow with the line and the reason), stores it
// on the data node once (flightdeck.prepare; a one-partition run skips
// prepare and its partition activity stores the spec instead), then runs
// every partition's chain -- extract, transform (the per-partition stages,
// and the partial aggregate when the plan has one) and, without global
// stages, load, as one flightdeck.partition activity whose stages still
// checkpoint one by one on the node; a Python stage splits the chain into
// steps, with the Python stage's flightdeck.python_stage activity between
// them on the stage's task queue (ChainSteps, activities.h); a Python
// stage task that no worker takes within the stage's start_timeout_ms fails
// the run naming the stage and the queue -- with at most spec.parallelism chains
// in flight and no barrier between them. With a shuffle (StagePlan in
// stages.h) each chain ends as a map putting its buckets, then the
// flightdeck.reduce activities run (at most spec.parallelism at once; a
// reduce that finds a map's bucket lost runs that map's chain again, which
// puts only what is missing). With global stages (after the reduces, if
// any), one combine over all partitions' (reduces') outputs, then load of
// its output; then commit.
// Activities exchange only tickets and summaries (activities.h): history
// holds a few hundred bytes per partition whatever the data size.
// Activities run on the spec's task_queue with its retry policy; invalid
// input is not retried.
//
// Recovery: an intermediate output lost inside a partition's chain is
// computed again by the chain itself (activities.h). When the combine
// reports an input lost (DatasetLost: a node dropped it, or restarted
// without it because it was not durable), the workflow runs that
// partition's chain again, at most kMaxRecomputes times, then fails. When a
// chain or the combine finds the stored spec lost (the node restarted
// without it), the workflow runs prepare again and repeats the step (at most
// kMaxRecomputes times per step); each counts as a recompute.
//
// Signals: "pause" stops starting new work (chains, combine, load, commit;
// activities in flight finish); "resume" continues. Cancelling the workflow
// starts no further step; the steps in flight finish, nothing is committed,
// and it ends as canceled.
//
// Datasets: every dataset a run puts on the nodes (RunDatasets, stages.h)
// is the run's. They are put with a lease (spec.dataset_lease, 15 minutes)
// that the workflow renews every third of it while it works
// (flightdeck.renew), and when the run ends -- committed, failed or
// canceled, after its steps in flight finished -- flightdeck.release drops
// them, or keeps them for spec.retention. A run that vanishes without that
// last step (terminated, timed out) leaves them to expire with their lease,
// or to `flightdeck gc`. Continue-as-new hands them to the next run.
//
// Continue-as-new: after spec.continue_as_new_after partitions finished in
// one run, the workflow waits for its chains in flight and continues as new
// with the same spec, origin and run and the state so far (spec key, next
// partition, counters, staged parts or partial tickets, checksums); the
// result comes from the last run of the chain.
//
// Query "progress" answers
//   {"phase": "partitions"|"paused"|"reduce"|"combine"|"load"|"commit"|"done",
//    "paused": bool, "partitions": N, "partitions_done": n, "rows": r,
//    "bytes": b, "rows_per_s": rate, "elapsed_ms": t, "eta_ms": e|null,
//    "runs": number of runs so far (continue-as-new), "recomputes": k,
//    "python": [{"stage": 1-based index, "transform", "queue",
//                "in_flight": partitions whose task is scheduled or running}]}
// where rows and bytes count the per-partition outputs so far (after the
// filter stages), the rate counts them per second of workflow time since the
// first run started, and the ETA extrapolates it over the partitions left.
//
// Result: {"run", "partitions", "rows" (committed rows), "bytes", "parts"
// (staged part names), "checksums" (of the loaded datasets), "elapsed_ms",
// "recomputes", "runs"}.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <arrow/status.h>
#include <nlohmann/json.hpp>

#include "flightdeck/frame/engine.h"
#include "flightdeck/observe/metrics.h"
#include "flightdeck/temporal/workflow/api.h"

namespace flightdeck::temporal {
class Worker;
}  // namespace flightdeck::temporal

namespace flightdeck::pipeline {

inline constexpr char kPipelineWorkflow[] = "flightdeck.Pipeline";
inline constexpr char kProgressQuery[] = "progress";
inline constexpr char kPauseSignal[] = "pause";
inline constexpr char kResumeSignal[] = "resume";
/// The workflow task timeout `flightdeck run` starts runs with: a worker
/// that dies holding a workflow task delays the run by this much (the
/// server's default is 10 s); replaying a run's history takes far less.
inline constexpr std::chrono::milliseconds kPipelineTaskTimeout{3000};
/// Recomputations of one lost input of a step (a partition's chain, a
/// map's split, the boundaries, the spec) allowed before the workflow
/// fails; a step that loses several inputs with one node may recompute
/// each of them this often.
inline constexpr int kMaxRecomputes = 3;
/// The heartbeat timeout of every stage activity: how long the server waits
/// for a heartbeat before it retries the attempt (on any worker). A killed
/// worker's partition chains (one activity each) run again elsewhere after
/// this long; ActivityKeepAlive heartbeats every quarter of it.
inline constexpr std::chrono::milliseconds kActivityHeartbeatTimeout{2000};
/// With spec.locality, how long a partition's chain or a reduce waits on the
/// task queue of the workers beside its node before it goes to the shared
/// queue (LocalTaskQueue in activities.h).
inline constexpr std::chrono::milliseconds kLocalStartTimeout{2000};
/// The activity of a Python stage, served by python/flightdeck_stage.
inline constexpr char kPythonStageActivity[] = "flightdeck.python_stage";
/// The heartbeat timeout of Python stage activities (the Python SDK
/// throttles heartbeats to 80% of it): a killed Python stage worker's task
/// runs again elsewhere after this long.
inline constexpr std::chrono::milliseconds kPythonHeartbeatTimeout{5000};
/// The activity id prefix of Python stage activities:
/// "python-s<stage, 1-based>-p<partition>-<n>", so that a client that sees
/// them pending (DescribeWorkflowExecution) knows the stage and partition.
inline constexpr char kPythonActivityIdPrefix[] = "python-s";

/// The workflow function (see the file comment).
temporal::workflow::Task<nlohmann::json> PipelineWorkflow(temporal::workflow::WorkflowContext& ctx,
                                                          std::string spec_yaml,
                                                          std::string origin, std::string run,
                                                          nlohmann::json carried);

/// Registers PipelineWorkflow as kPipelineWorkflow, the stage activities
/// (activities.h) and the repair workflow (repair.h) on `worker`, the
/// activities running on engines leased from `engines` (null: the
/// process's default engine). REQUIRES: before
/// worker.Start().
arrow::Status RegisterPipeline(temporal::Worker& worker, std::shared_ptr<frame::EnginePool> engines = nullptr,
                               std::shared_ptr<observe::Metrics> metrics = nullptr);

}  // namespace flightdeck::pipeline
