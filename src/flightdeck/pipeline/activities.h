// flightdeck/pipeline/activities.h: the stage functions of stages.h as
// Temporal activities, and the names PipelineWorkflow schedules them by.
//
// Only tickets travel. The spec's text goes into history once per run, as
// the input of flightdeck.prepare, which stores it on the data node
// (StoreSpec) and answers its key -- or, for a one-partition run (no
// prepare: one activity less on the critical path), in the input of its
// partition activity, which stores it before extracting; every other
// activity takes one small StageTask naming the spec by that key (workers
// fetch and parse each spec once, LoadSpec) and its input datasets by
// ticket, and derives what to do (stage ranges, nodes, part names) from the
// spec, as the workflow does:
//   flightdeck.prepare    (yaml, origin, run)                    -> spec key
//   flightdeck.partition  StageTask{spec, run, partition[, yaml, origin]}
//                         -> DatasetRef of the partition's output
//   flightdeck.bounds     StageTask{spec, run}                    -> DatasetRef (range shuffle:
//                                                                   the boundaries)
//   flightdeck.split      StageTask{spec, run, partition=map, input} -> DatasetRef without a
//                                                                   ticket (range shuffle)
//   flightdeck.reduce     StageTask{spec, run, partition=reduce}  -> DatasetRef (shuffle)
//   flightdeck.combine    StageTask{spec, run, inputs}            -> DatasetRef
//   flightdeck.load       StageTask{..., partition=part, input}   -> staged part name
//   flightdeck.commit     StageTask{spec, run, parts}             -> nothing (then releases
//                                                                   the run's datasets)
//   flightdeck.renew      StageTask{spec, run}                    -> datasets renewed
//   flightdeck.release    StageTask{spec, run}                    -> datasets released
// flightdeck.partition runs one partition's chain in one activity (one
// workflow task round trip instead of three): Extract, TransformPartition
// and, without global stages, Load of its output as part `partition`
// (staged under PartName(spec, partition)). Every stage's output is still a
// checkpoint of its own on the node (durable before the activity succeeds
// when the spec is durable), so a retried attempt reuses what the earlier
// one left, and an input lost between the stages is computed again from the
// last one that exists (at most kMaxChainRecomputes times). The input of
// partition p lives on NodeFor(spec, p) (the combine's output, loaded as
// part 0, on NodeFor(spec, 0)).
//
// A chain with Python stages runs as several steps (ChainSteps in
// stages.h): flightdeck.partition for each run of C++ stages (StageTask
// range), and between them the Python stage worker's
// flightdeck.python_stage (python/flightdeck_stage) on the stage's task
// queue, which reads its input ticket and puts its output on the same node.
// Only the step that ends the per-partition stages computes the partial
// aggregate and loads -- or, with a hash shuffle, puts the partition's
// buckets (ShuffleMap) and answers a ref without a ticket, or, with a range
// shuffle, also puts the sample of its sort keys (PutSortSample).
//
// History form (a few hundred bytes per partition): a StageTask is the JSON
// array [spec, run, partition, input, inputs, parts, yaml, origin, range] without
// its trailing empty fields; the run is left empty when it equals the
// workflow id (the activity takes it from its ActivityInfo); a DatasetRef is
// [ticket, rows, bytes, checksum]. Tickets travel compact (CompactTicket: the
// 16 random bytes of a flightdeck ticket of the spec's tenant) as unpadded
// base64.
//
// Failures: an invalid spec or input is the non-retryable "InvalidPipeline"
// application error; an input dataset that is gone from its node (see
// DatasetLost in stages.h) the non-retryable "DatasetLost" error, whose
// message names the input, so that the workflow recomputes it; everything
// else keeps the Arrow code's name (retryable). Each activity heartbeats
// while it works (activity_keep_alive.h), so a worker that dies is noticed
// within the heartbeat timeout the workflow sets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/status.h>
#include <nlohmann/json_fwd.hpp>

#include "flightdeck/flight/dataset_ref.h"
#include "flightdeck/observe/metrics.h"

namespace flightdeck::temporal {
class Worker;
}  // namespace flightdeck::temporal

namespace flightdeck::frame {
class EnginePool;
}  // namespace flightdeck::frame

namespace flightdeck::pipeline {

using flight::DatasetRef;

inline constexpr char kPrepareActivity[] = "flightdeck.prepare";
inline constexpr char kPartitionActivity[] = "flightdeck.partition";
inline constexpr char kCombineActivity[] = "flightdeck.combine";
/// StageTask{spec, run, partition=reduce} -> DatasetRef of the reduce's
/// output (also loaded as part `reduce` when no global stage follows).
inline constexpr char kReduceActivity[] = "flightdeck.reduce";
/// StageTask{spec, run} -> DatasetRef of the range shuffle's boundaries
/// (SortBounds).
inline constexpr char kBoundsActivity[] = "flightdeck.bounds";
/// StageTask{spec, run, partition=map, input=map output} -> the rows and
/// bytes of the map's range buckets, no ticket (RangeSplit).
inline constexpr char kSplitActivity[] = "flightdeck.split";
inline constexpr char kLoadActivity[] = "flightdeck.load";
inline constexpr char kCommitActivity[] = "flightdeck.commit";
/// StageTask{spec, run}: renews the lease of the run's datasets (RenewRun).
inline constexpr char kRenewActivity[] = "flightdeck.renew";
/// StageTask{spec, run}: releases the run's datasets (ReleaseRun).
inline constexpr char kReleaseActivity[] = "flightdeck.release";
/// The application error type of non-retryable pipeline errors.
inline constexpr char kInvalidPipelineError[] = "InvalidPipeline";
/// The application error type of a lost input dataset (non-retryable: the
/// workflow recomputes the input instead).
inline constexpr char kDatasetLostError[] = "DatasetLost";

/// The input a DatasetLost activity failure names ("3", "spec"), from the
/// failure's details {"input": NAME}; "" when `status` is not one.
std::string LostInputOfFailure(const arrow::Status& status);
/// How many times flightdeck.partition computes a lost intermediate output
/// again within one attempt before it reports DatasetLost.
inline constexpr int kMaxChainRecomputes = 3;

/// The input of every stage activity but prepare. A plain value. JSON: the
/// array described in the file comment.
struct StageTask {
  std::string spec;
  /// Empty: the workflow id of the activity's workflow.
  std::string run;
  int32_t partition = 0;
  /// Ticket bytes (compact or not) of the one input (load).
  std::string input;
  /// Ticket bytes (compact or not) of the combine's inputs, in partition
  /// order.
  std::vector<std::string> inputs;
  /// Commit: the staged part names that load answered.
  std::vector<std::string> parts;
  /// Partition activity of a run without prepare: the spec's text (and its origin for
  /// error messages), stored under `spec` (which must be its SpecKeyOf)
  /// before extracting.
  std::string yaml;
  std::string origin;
  /// Partition activity: the step of the chain to run (a ChainStep's C++
  /// range, [begin, end)), over `input` when that is set (the output of the
  /// Python stage before it), else over the source. Empty: the whole chain.
  std::vector<int32_t> range;
};

/// nlohmann-json conversions (used by the payload converter) of the named
/// form a person reads in the Web UI and another SDK decodes:
///   {"spec": KEY, "run": ID, "partition": P, "input": B64, "inputs": [B64],
///    "parts": [NAME], "yaml": TEXT, "origin": NAME, "range": [BEGIN, END]}
/// Empty fields are left out; tickets are unpadded base64 of their bytes.
/// from_json throws nlohmann's exceptions naming the field that is missing
/// (spec), mistyped or not base64 (the worker fails the activity with a
/// non-retryable InvalidArgument); unknown fields are ignored.
void to_json(nlohmann::json& json, const StageTask& task);
void from_json(const nlohmann::json& json, StageTask& task);

/// nlohmann-json conversions of the history form
///   {"ticket": B64, "rows": N, "bytes": N, "checksum": S,
///    "source_rows": N, "source_bytes": N}      (source figures when not 0)
/// with the same error behaviour: node and schema fingerprint do not travel
/// (the node of partition p's output is NodeFor(spec, p); the fingerprint
/// is not needed in history) and come back empty.
void DatasetRefToHistory(nlohmann::json& json, const DatasetRef& ref);
void DatasetRefFromHistory(const nlohmann::json& json, DatasetRef& ref);

/// The ticket as it travels in history: the 16 random bytes of a flightdeck
/// ticket ("fdt1:TENANT:ID", flight/ticket.h) of `tenant`, followed by its
/// signature ("!KEY!EXPIRES!RIGHTS!MAC", flight/ticket_signer.h) when it is
/// signed; any other ticket unchanged (at least 17 bytes for flightdeck's
/// own). Pure.
std::string CompactTicket(const std::string& tenant, const std::string& ticket);
/// The inverse of CompactTicket for the same tenant. Pure.
std::string ExpandTicket(const std::string& tenant, const std::string& compact);

/// The task queue of the workers beside data node `node` (`flightdeck
/// worker --node`): "<queue>@<node without its scheme>". Pure.
std::string LocalTaskQueue(const std::string& queue, const std::string& node);

/// This worker process runs beside data node `local_node`: the bytes its
/// activities read from and write to data nodes count on `metrics` as
/// flightdeck_pipeline_node_bytes{locality="local"|"remote",
/// direction="read"|"write"}. Process-wide; call before the workers start.
void ObserveNodeTransfers(const std::string& local_node, std::shared_ptr<observe::Metrics> metrics);

/// Registers the stage activities on `worker`. REQUIRES: before
/// worker.Start(). AlreadyExists when a name is taken. Each runs its
/// DataFrames on an engine leased from `engines` for its duration (one per
/// activity slot: memory limit, spill folder and threads of its own); null:
/// the process's default engine. With `metrics`, each attempt is measured:
/// flightdeck_pipeline_activity_duration_seconds{activity},
/// flightdeck_pipeline_retries{activity}, flightdeck_pipeline_activity_failures{activity},
/// flightdeck_pipeline_partitions_done, flightdeck_pipeline_partitions_in_flight,
/// flightdeck_pipeline_source_rows, flightdeck_pipeline_source_bytes,
/// flightdeck_pipeline_checkpoint_bytes.
arrow::Status RegisterPipelineActivities(temporal::Worker& worker,
                                         std::shared_ptr<frame::EnginePool> engines = nullptr,
                                         std::shared_ptr<observe::Metrics> metrics = nullptr);

}  // namespace flightdeck::pipeline

// The payload converter finds the history form above for DatasetRef (a
// flight/ type, whose namespace knows nothing of history).
namespace nlohmann {
template <>
struct adl_serializer<flightdeck::flight::DatasetRef> {
  static void to_json(json& j, const flightdeck::flight::DatasetRef& ref) {
    flightdeck::pipeline::DatasetRefToHistory(j, ref);
  }
  static void from_json(const json& j, flightdeck::flight::DatasetRef& ref) {
    flightdeck::pipeline::DatasetRefFromHistory(j, ref);
  }
};
}  // namespace nlohmann
