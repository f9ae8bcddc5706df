// flightdeck/pipeline/stages.h: the stage activities of a pipeline as plain
// functions (the Temporal activities in activities.h wrap them).
//
// A pipeline runs as: Extract (one per partition) -> TransformPartition (the
// per-partition stages) -> Combine (the global stages over all partitions,
// only when the spec has some) -> Load (one per output part, into staging)
// -> Commit (publishes the staged parts at once). Stages exchange DatasetRefs
// only; the batches stay on the data node, under the spec's tenant:
//   extract    [tenant, RUN + "-extract",   PARTITION]
//   transform  [tenant, RUN + "-transform", PARTITION]  (TransformDataset)
//   python     [tenant, RUN + "-s" + STAGE, PARTITION]   (the Python stage worker)
//   combine    [tenant, RUN + "-combine",   "0"]
// Outputs of a durable spec are persisted on the node before the function
// returns, and a call that finds the durable output of an earlier attempt
// (same run, stage and partition) returns it instead of recomputing.
//
// Every function is deterministic for a given spec, run and inputs, is safe
// to call concurrently for different partitions, and may be retried.
// Errors: Invalid for a spec the stages cannot run (no data node, a Python
// stage given to the C++ worker, bad expressions), the data node's errors
// as flight::NodeClient gives them (a lost input is DatasetLost, found with
// LostInputOf), IOError for sink files.
//
// Where they live: sources.cc (file listing, partitions, sizes),
// stage_plan.cc (stages as DataFrame plans, the plan split, chain steps),
// stages.cc (extract, transform, combine, load), sink_commit.cc (the
// exactly-once commit), run_datasets.cc (a run's datasets, leases and
// stored spec), stage_io.cc (the node calls they share).
#pragma once

#include <cstdint>
#include <memory>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/frame/data_frame.h"
#include "flightdeck/flight/dataset_ref.h"
#include "flightdeck/pipeline/spec.h"

namespace flightdeck::pipeline {

using flight::DatasetRef;
using flight::DatasetRefFromJson;
using flight::DatasetRefFromNodeSummary;

/// Stages [begin, end) of spec.stages.
struct StageRange {
  size_t begin = 0;
  size_t end = 0;
  bool empty() const { return begin >= end; }
};

/// How the spec's stages split. A spec of one partition runs every stage in
/// that partition's transform (no combine). Otherwise the leading run of per-partition stages
/// (filter, with_column, select, join, python) runs on each partition; from
/// the first global stage (aggregate, sort, limit) on, everything runs once
/// over the union of all partitions.
///
/// When the first global stage is an aggregate whose functions all combine
/// (sum, count, count(*), min, max), it is split: each partition computes a
/// partial aggregate after its per-partition stages (`partial_aggregate`),
/// and the global stages start by combining the partials (sum of sums and
/// counts, min of mins, max of maxes), so the combine reads one row per group
/// and partition instead of every row.
///
/// Shuffle: when the first global stage is an aggregate with groups or a
/// distinct and the spec's shuffle resolves to K > 0 reduce partitions, or
/// the first stage that is not per-partition is a join with strategy:
/// shuffle (K: the spec's shuffle, else one per partition), no activity
/// holds every row. Each partition's chain ends as a map: its output (the
/// partial aggregate when there is one) split by a hash of the group keys
/// (distinct: of every column; a join: of its keys, and partition m of the
/// joined source by its own keys) into K buckets, bucket k put on
/// ReduceNodeFor(k). Reduce k reads bucket k of every map and runs
/// `reduce`: that global stage (combining the partials) and the row-wise
/// stages after it (filter, with_column, select, rename, drop, cast). The
/// stages after those (`global`, possibly none) run in one combine over the
/// reduce outputs in reduce order; without them reduce k is part k of the
/// sink.
///
/// Top-N (`partial_top`): when the first global stage is a sort directly
/// followed by a limit and no shuffle takes it, each partition's chain also
/// computes that sort and limit (its own first N rows), and the combine
/// sorts and limits the partitions' tops again: it reads at most N rows per
/// partition.
///
/// Range shuffle (`range`): when the first global stage is a sort not
/// followed by a limit (a top-N stays in the combine) and the shuffle
/// resolves to K > 0, reduce k holds the k-th range of the sort order, so
/// that the reduces' outputs in reduce order are the sorted rows. Each
/// partition's chain ends with its output checkpointed as usual plus a
/// sample of its sort keys (PutSortSample); one activity turns the samples
/// into K-1 boundaries (SortBounds); a split per map puts the rows of each
/// range in its bucket (RangeSplit); reduce k sorts bucket k of every map
/// and runs the row-wise stages after the sort.
struct StagePlan {
  StageRange per_partition;
  StageRange global;
  bool partial_aggregate = false;
  /// Reduce partitions of the shuffle; 0: none (reduce is empty and global
  /// starts where per_partition ends).
  int32_t shuffle = 0;
  StageRange reduce;
  /// The shuffle is by ranges of the sort at reduce.begin.
  bool range = false;
  /// Each partition computes the sort and limit that start `global`.
  bool partial_top = false;
};
StagePlan PlanStages(const PipelineSpec& spec);

/// One step of a partition's chain: the C++ stages `range` (possibly none)
/// in a flightdeck.partition activity, or the Python stage at index
/// `python` in a flightdeck.python_stage activity on its task queue.
struct ChainStep {
  StageRange range;
  int python = -1;
  bool is_python() const { return python >= 0; }
};

/// The steps of the per-partition stages: runs of C++ stages split at the
/// Python stages. The first and the last step are C++ steps, possibly of no
/// stage: the first reads the source, the last computes the partial
/// aggregate and loads. Without Python stages: the one step
/// PlanStages(spec).per_partition. Pure.
std::vector<ChainStep> ChainSteps(const PipelineSpec& spec);

/// The dataset TransformPartition puts the output of stages `range` of a
/// run under: "<run>-transform" for the stages from the first one, and
/// "<run>-transform-<begin>" for a later step (after a Python stage). Pure.
std::string TransformDataset(const std::string& run, StageRange range);

/// The datasets (names under the spec's tenant) a run creates on the
/// nodes, every partition of each: its extract, every step's transform and
/// Python stage output, the shuffle's samples, boundaries, buckets and
/// reduce outputs, and the combine; also "<run>-spec-<hash>", the
/// stored spec (see SpecKeyOf). Not a Flight sink's (the run's result). Pure.
std::vector<std::string> RunDatasets(const PipelineSpec& spec, const std::string& run);

/// The node action "expire" on every node of the spec for `datasets` (names
/// under the spec's tenant): they expire `ttl_ms` from now, or are dropped
/// when it is 0. Returns how many datasets it changed; the first node's
/// failure (after trying all of them).
arrow::Result<int64_t> ExpireDatasets(const PipelineSpec& spec, const std::vector<std::string>& datasets,
                                      int64_t ttl_ms);

/// Renews the lease of the run's datasets and of the spec's dataset (named
/// by `spec_key`): they expire spec.dataset_lease_ms from now.
arrow::Result<int64_t> RenewRun(const PipelineSpec& spec, const std::string& spec_key, const std::string& run);

/// Releases the run's datasets and its spec's dataset (named by `spec_key`)
/// once it ended: dropped, or with a retention, expiring spec.retention_ms
/// from now.
arrow::Result<int64_t> ReleaseRun(const PipelineSpec& spec, const std::string& spec_key, const std::string& run);

/// A stage's input dataset is gone from its node (dropped, expired, or the
/// node restarted without it: not durable). KeyError whose message starts
/// with "dataset lost: input N" where N is the index of the input (the
/// partition for transform, load and combine inputs) or "spec" for the spec
/// dataset, so that the caller can recompute it from the last checkpoint.
arrow::Status DatasetLost(const std::string& input, const arrow::Status& cause);

/// The input named by a DatasetLost status (its flight::DatasetLostDetail):
/// "3", "spec", or "" when `status` is not about a lost input.
std::string LostInputOf(const arrow::Status& status);

/// The placement key of partition `partition`: "TENANT/PIPELINE/PARTITION".
std::string PartitionKey(const PipelineSpec& spec, int32_t partition);

/// The data node partition `partition` lives on: the spec's node that
/// rendezvous placement (flight/placement.h) picks for its PartitionKey.
/// Invalid when the spec names no node (or one twice).
arrow::Result<std::string> NodeFor(const PipelineSpec& spec, int32_t partition);

// --- Shuffle (StagePlan.shuffle > 0) --------------------------------------------
//
// Datasets: bucket k of map m is [tenant, RUN + "-shuffle", "M-K"] on
// ReduceNodeFor(k) (a joined source's: RUN + "-shuffle-right"); reduce k's
// output [tenant, RUN + "-reduce", K] on the same node. Reduces find their buckets by path, so history holds no
// ticket per bucket.

/// The placement key of reduce partition `reduce`: "TENANT/PIPELINE/reduce/K".
std::string ReduceKey(const PipelineSpec& spec, int32_t reduce);

/// The data node reduce partition `reduce` and its buckets live on.
arrow::Result<std::string> ReduceNodeFor(const PipelineSpec& spec, int32_t reduce);

/// The partition name of map `map`'s bucket `reduce`: "M-K". Pure.
std::string BucketName(int32_t map, int32_t reduce);

/// The map side, the last step of partition `map`'s chain: stages `range`
/// (which ends the per-partition stages; then the partial aggregate when
/// the plan has one) over `input`, or over the source partition when there
/// is none, split into plan.shuffle buckets by a hash of the shuffle keys
/// (DuckDB's hash(), the same in every process), each put on its reduce's
/// node. A durable spec keeps the buckets an earlier attempt put, and
/// computes nothing when every bucket is there. Returns the rows and bytes
/// of all buckets (no ticket: the reduces find them by path). DatasetLost
/// (input `map`) when the input is gone.
arrow::Result<DatasetRef> ShuffleMap(const PipelineSpec& spec, const std::string& run, int32_t map,
                                     const std::optional<DatasetRef>& input, StageRange range);

// --- Range shuffle (StagePlan.range) -------------------------------------------
//
// Datasets: map m's sample of sort keys [tenant, RUN + "-sample", M] on
// NodeFor(m); the boundaries [tenant, RUN + "-bounds", "0"] on NodeFor(0);
// buckets and reduce outputs as for the hash shuffle. Sort keys compare as
// DuckDB's create_sort_key() blobs (the sort's directions and null order
// folded in), byte by byte.

/// The sample of map `map`'s output `output` (the chain's last checkpoint):
/// every n-th row's sort key with the number of rows it stands for, about
/// 100 * K / M rows. A durable spec keeps the sample an earlier attempt put.
/// DatasetLost (input `map`) when `output` is gone.
arrow::Status PutSortSample(const PipelineSpec& spec, const std::string& run, int32_t map,
                            const DatasetRef& output);

/// The K-1 boundaries of the range shuffle from every map's sample: the
/// weighted quantiles i/K of the sample keys, put as one binary column.
/// DatasetLost naming map M when its sample is gone (its chain runs again).
arrow::Result<DatasetRef> SortBounds(const PipelineSpec& spec, const std::string& run);

/// The map side of the range shuffle: `input` (map `map`'s output) split
/// into K buckets by the boundaries (a row goes to the bucket of the number
/// of boundaries below its key: equal keys share a bucket), each put on its
/// reduce's node. A durable spec keeps the buckets an earlier attempt put
/// and reads nothing when all are there. The rows and bytes of all buckets.
/// DatasetLost naming "bounds" or map `map` when one is gone.
arrow::Result<DatasetRef> RangeSplit(const PipelineSpec& spec, const std::string& run, int32_t map,
                                     const DatasetRef& input);

/// The reduce side: bucket `reduce` of every map, in map order, through
/// plan.reduce, put on ReduceNodeFor(reduce). DatasetLost naming map M (as
/// its partition) when its bucket is gone: the workflow runs map M again,
/// which puts only the missing buckets.
arrow::Result<DatasetRef> Reduce(const PipelineSpec& spec, const std::string& run, int32_t reduce);

/// Rows of partition `partition` of the source, as a DataFrame computed
/// locally (no data node involved except for a Flight source).
/// generate: rows split evenly ([p*N/P, (p+1)*N/P)), ids globally unique,
/// the same rows for the same spec and partition. Files: the sorted files
/// of the path, directory or glob, assigned round-robin. Flight: all rows in
/// partition 0, none elsewhere.
arrow::Result<frame::DataFrame> ReadSourcePartition(const PipelineSpec& spec,
                                                    int32_t partition);

/// Projection pushdown: the source columns the stages read, when the stages
/// determine them -- walking back from the sink, an aggregate or a select
/// fixes the columns that flow on, and filter, with_column and sort add the
/// columns their expressions and keys read. nullopt when the sink may need
/// every source column (no aggregate or select fixes them), or a join, a
/// Python stage or an unparsable expression is in the way. Names that are
/// not source columns (made by a stage) may appear; Extract ignores them.
/// Extract puts only these columns (for file sources the scan reads only
/// them), never fewer than one. Pure.
std::optional<std::set<std::string>> SourceColumnsNeeded(const PipelineSpec& spec);

/// How a join stage opens its source: by default the whole source
/// (generated, read or streamed); the spec check opens only its schema.
using SourceOpener = std::function<arrow::Result<frame::DataFrame>(const SourceSpec&)>;

/// Applies one stage to `input` (null `open_join`: the default opener).
/// Python stages are Invalid here.
arrow::Result<frame::DataFrame> ApplyStage(const PipelineSpec& spec, const StageSpec& stage,
                                           frame::DataFrame input, const SourceOpener& open_join = nullptr);

/// The files of a file source, sorted (every worker assigns them to
/// partitions alike); IOError when it matches none.
arrow::Result<std::vector<std::string>> SourceFiles(const std::string& path);

/// What one partition reads from the source, from metadata only: rows (0
/// when not known without reading: CSV, Flight) and bytes (the files' sizes;
/// 0 for generated rows and Flight).
struct SourceSize {
  int64_t rows = 0;
  int64_t bytes = 0;
};
arrow::Result<SourceSize> PartitionSourceSize(const PipelineSpec& spec, int32_t partition);

/// Applies stages `range` to `input`. Python stages are Invalid here.
arrow::Result<frame::DataFrame> ApplyStages(const PipelineSpec& spec, frame::DataFrame input,
                                            StageRange range);

/// The whole pipeline computed in this process (the oracle the distributed
/// run must equal): every partition through the per-partition stages, the
/// union through the global ones.
arrow::Result<frame::DataFrame> ComputeLocally(const PipelineSpec& spec);

/// Extract: partition `partition` of the source put on NodeFor(partition),
/// only the columns of SourceColumnsNeeded.
arrow::Result<DatasetRef> Extract(const PipelineSpec& spec, const std::string& run,
                                  int32_t partition);

/// The per-partition stages `range` over `input`, put on input's node; with
/// `partial` (range ends the per-partition stages), followed by the plan's
/// partial global stages: the partial form of the aggregate stage at
/// range.end, or the top-N (see StagePlan). With `keep_local`, the output also stays
/// in this process for the next read of it here (PutSortSample's).
/// DatasetLost when the input is gone.
arrow::Result<DatasetRef> TransformPartition(const PipelineSpec& spec, const std::string& run,
                                             int32_t partition, const DatasetRef& input,
                                             StageRange range, bool partial = false,
                                             bool keep_local = false);

/// Whether the source is files (Parquet, CSV, IPC): durable already, so a
/// partition's first stages read them directly (TransformSourcePartition)
/// instead of checkpointing an extract of them first.
bool SourceIsDurable(const SourceSpec& source);

/// TransformPartition over partition `partition` of a file source read in
/// place (the engine reads only the columns and row groups the stages
/// need), put on NodeFor(partition). Invalid for other sources.
arrow::Result<DatasetRef> TransformSourcePartition(const PipelineSpec& spec, const std::string& run,
                                                   int32_t partition, StageRange range,
                                                   bool partial = false, bool keep_local = false);

/// The global stages `range` over the union of `inputs` (in that order;
/// the partitions' outputs, or after a shuffle the reduces', each on its
/// node), put on NodeFor(0). With `from_partials`, the inputs are partial
/// aggregates and the aggregate stage at range.begin combines them.
/// Invalid when `inputs` is empty; DatasetLost naming the first input gone.
arrow::Result<DatasetRef> Combine(const PipelineSpec& spec, const std::string& run,
                                  const std::vector<DatasetRef>& inputs, StageRange range,
                                  bool from_partials = false);

/// Load: writes `input` as part `part` of the sink (DatasetLost, input
/// `part`, when it is gone).
/// File sinks: to <sink>/_staging/<run>/part-<part>.<ext> (temporary name,
/// then rename); a staged part already there is kept (retries). Returns the
/// staged path. Flight sinks: a durable put to [tenant, dataset, PartName]
/// that replaces the dataset of an earlier run; returns the ref's JSON.
arrow::Result<std::string> Load(const PipelineSpec& spec, const std::string& run, int32_t part,
                                const DatasetRef& input);

/// Publishes the staged parts of `run` (what Load returned) at once, file
/// sinks: builds the next sink in CommitFolder(spec, run) next to it (the
/// staged parts moved there, and _SUCCESS naming the run), then swaps it
/// with the sink folder in one rename (renameat2 RENAME_EXCHANGE) and
/// removes the old one: a reader sees the old sink or the new one, never
/// some parts without _SUCCESS, and nothing of the old run remains (the
/// sink folder belongs to the pipeline; other runs' staging moves along).
/// Idempotent: committing a run that _SUCCESS names already only removes
/// what a crash or a retried load left (staging, commit folder); a commit
/// interrupted anywhere completes when called again, with one copy of every
/// part. Readers must only trust a sink whose _SUCCESS names the run.
/// Invalid for a staged path outside the run's staging folder, or a part
/// that is neither staged nor in the commit folder (lost: the run must load
/// it again). Flight sinks: nothing to do.
arrow::Status Commit(const PipelineSpec& spec, const std::string& run,
                     const std::vector<std::string>& staged);

/// How many parts a run of the spec writes to its sink: 1 after a combine,
/// one per reduce after a shuffle, else one per partition. Pure.
int32_t PartCount(const PipelineSpec& spec);

/// The name of part `part` of the sink, as Load stages it:
/// "part-<part>.<ext>" for file sinks, "part-<part>" for Flight sinks, the
/// number zero-padded to the width of the last part's (part-07 of 12), so
/// that the names sort as the parts do (a sorted run's parts hold the rows
/// in order). Pure.
std::string PartName(const PipelineSpec& spec, int32_t part);

/// Where Commit assembles the next sink of `run` of a file sink:
/// "<parent>/.<sink name>.commit-<run>", next to the sink folder (same file
/// system, so that publishing is a rename).
std::string CommitFolder(const PipelineSpec& spec, const std::string& run);

/// The staging folder of `run` of a file sink (where Load writes parts).
std::string StagingFolder(const PipelineSpec& spec, const std::string& run);

// --- The spec on the data node ------------------------------------------------
//
// Activities do not carry the spec's text: PipelineWorkflow stores it once
// per run as a one-row dataset under [tenant, "<run>-spec-<hash>", "0"] on
// the spec's first node (durable when the spec is; one of the run's
// datasets, leased and released with them), and hands activities its key,
// "<tenant>/<run>/<hash>@<node>" (the node without its scheme when that is
// grpc+tcp://). Workers fetch and parse a spec once and keep it by key (the
// hash is of the text, so a key names one text).

/// The key StoreSpec answers for `yaml` (parsed as `spec`) of `run`,
/// computed without storing anything (deterministic: the workflow may call
/// it). Invalid when the spec names no node or the run id is not one.
arrow::Result<std::string> SpecKeyOf(const PipelineSpec& spec, const std::string& yaml, const std::string& run);

/// Stores `yaml` (already parsed as `spec`) for `run` and returns its key;
/// the spec is then in this process's LoadSpec cache. Idempotent.
arrow::Result<std::string> StoreSpec(const PipelineSpec& spec, const std::string& yaml, const std::string& run);

/// The spec of `key`, from this process's cache or fetched from its node.
/// Thread-safe. Invalid for a malformed key or a text that does not parse;
/// DatasetLost ("spec") when the node no longer has it.
arrow::Result<std::shared_ptr<const PipelineSpec>> LoadSpec(const std::string& key);

/// Empties this process's LoadSpec cache, so that the next LoadSpec of every
/// key reads the node, as a newly started worker process would (tests of a
/// node that lost the spec). Thread-safe.
void ForgetCachedSpecs();

}  // namespace flightdeck::pipeline
