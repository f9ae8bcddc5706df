// flightdeck/pipeline/stages.h: the stage activities of a pipeline as plain
// functions (the Temporal activities in activities.h wrap them).
//
// A pipeline runs as: Extract (one per partition) -> TransformPartition (the
// per-partition stages) -> Combine (the global stages over all partitions,
// only when the spec has some) -> Load (one per output part, into staging)
// -> Commit (publishes the staged parts at once). Stages exchange DatasetRefs
// only; the batches stay on the data node, under the spec's tenant:
//   extract    [tenant, RUN + "-extract",   PARTITION]
//   transform  [tenant, RUN + "-transform", PARTITION]
//   combine    [tenant, RUN + "-combine",   "0"]
// Outputs of a durable spec are persisted on the node before the function
// returns, and a call that finds the durable output of an earlier attempt
// (same run, stage and partition) returns it instead of recomputing.
//
// Every function is deterministic for a given spec, run and inputs, is safe
// to call concurrently for different partitions, and may be retried.
// Errors: Invalid for a spec the stages cannot run (no data node, a Python
// stage given to the C++ worker, bad expressions), the data node's errors
// (NOT_FOUND for lost tickets, unavailable nodes) as Flight statuses,
// IOError for sink files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/frame/data_frame.h"
#include "flightdeck/pipeline/dataset_ref.h"
#include "flightdeck/pipeline/spec.h"

namespace flightdeck::pipeline {

/// Stages [begin, end) of spec.stages.
struct StageRange {
  size_t begin = 0;
  size_t end = 0;
  bool empty() const { return begin >= end; }
};

/// How the spec's stages split: the leading run of per-partition stages
/// (filter, with_column, select, join, python) runs on each partition; from
/// the first global stage (aggregate, sort, limit) on, everything runs once
/// over the union of all partitions.
struct StagePlan {
  StageRange per_partition;
  StageRange global;
};
StagePlan PlanStages(const PipelineSpec& spec);

/// The data node partition `partition` lives on: nodes[partition % size].
/// Invalid when the spec names no node.
arrow::Result<std::string> NodeFor(const PipelineSpec& spec, int32_t partition);

/// Rows of partition `partition` of the source, as a DataFrame computed
/// locally (no data node involved except for a Flight source).
/// generate: rows split evenly ([p*N/P, (p+1)*N/P)), ids globally unique,
/// the same rows for the same spec and partition. Files: the sorted files
/// of the path, directory or glob, assigned round-robin. Flight: all rows in
/// partition 0, none elsewhere.
arrow::Result<frame::DataFrame> ReadSourcePartition(const PipelineSpec& spec,
                                                    int32_t partition);

/// Applies stages `range` to `input`. Python stages are Invalid here.
arrow::Result<frame::DataFrame> ApplyStages(const PipelineSpec& spec, frame::DataFrame input,
                                            StageRange range);

/// The whole pipeline computed in this process (the oracle the distributed
/// run must equal): every partition through the per-partition stages, the
/// union through the global ones.
arrow::Result<frame::DataFrame> ComputeLocally(const PipelineSpec& spec);

/// Extract: partition `partition` of the source put on NodeFor(partition).
arrow::Result<DatasetRef> Extract(const PipelineSpec& spec, const std::string& run,
                                  int32_t partition);

/// The per-partition stages `range` over `input`, put on input's node.
arrow::Result<DatasetRef> TransformPartition(const PipelineSpec& spec, const std::string& run,
                                             int32_t partition, const DatasetRef& input,
                                             StageRange range);

/// The global stages `range` over the union of `inputs` (in that order),
/// put on NodeFor(0). Invalid when `inputs` is empty. Aggregates run over the
/// plain union (no partial aggregation yet).
arrow::Result<DatasetRef> Combine(const PipelineSpec& spec, const std::string& run,
                                  const std::vector<DatasetRef>& inputs, StageRange range);

/// Load: writes `input` as part `part` of the sink.
/// File sinks: to <sink>/_staging/<run>/part-<part>.<ext> (temporary name,
/// then rename); a staged part already there is kept (retries). Returns the
/// staged path. Flight sinks: a durable put to [tenant, dataset, "part-<part>"]
/// that replaces the dataset of an earlier run; returns the ref's JSON.
arrow::Result<std::string> Load(const PipelineSpec& spec, const std::string& run, int32_t part,
                                const DatasetRef& input);

/// Publishes the staged parts of `run` (what Load returned): file sinks move
/// them to <sink>/part-<n>.<ext>, remove part files of earlier runs that this
/// run does not have, write <sink>/_SUCCESS naming the run and remove the
/// staging folder. Idempotent: committing a committed run does nothing; a
/// commit interrupted by a crash completes when called again. Readers must
/// only trust a sink whose _SUCCESS names the run. Invalid for a staged path
/// outside the run's staging folder, or a part that is neither staged nor
/// published (lost: the run must load it again). Flight sinks: nothing to do.
arrow::Status Commit(const PipelineSpec& spec, const std::string& run,
                     const std::vector<std::string>& staged);

}  // namespace flightdeck::pipeline
