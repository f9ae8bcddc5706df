// flightdeck/pipeline/stages_internal.h: helpers the stage files share
// (stage_io.cc, sources.cc, stage_plan.cc, stages.cc, sink_commit.cc,
// run_datasets.cc). Not for use outside pipeline/.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/table.h>

#include "flightdeck/flight/node_client.h"
#include "flightdeck/frame/data_frame.h"
#include "flightdeck/flight/dataset_ref.h"
#include "flightdeck/pipeline/spec.h"
#include "flightdeck/pipeline/stages.h"

namespace flightdeck::pipeline::internal {

// --- stage_io.cc: the pipeline's calls to its data nodes and files ---------

/// Called with the node and bytes of every dataset the stages put (for
/// ObserveNodeTransfers); null: none. Process-wide.
void SetWriteObserver(std::function<void(const std::string& node, int64_t bytes)> observer);
/// Who the pipeline's calls to its nodes are from (the spec's tenant).
flight::CallIdentity Who(const PipelineSpec& spec);
arrow::Result<frame::FileFormat> FormatOf(SourceSpec::Kind kind);
arrow::Result<frame::FileFormat> FormatOf(SinkSpec::Kind kind);
/// The file name extension of a sink's parts ("parquet", "csv", "arrow").
std::string ExtensionOf(SinkSpec::Kind kind);

/// Makes the dataset of `ticket` on `client`'s node durable; its ref.
arrow::Result<DatasetRef> Persist(flight::NodeClient& client, const PipelineSpec& spec, const std::string& ticket);
/// The dataset under `path` on `client`'s node, persisted again (a no-op
/// for a durable one) for its summary; nullopt when there is none.
arrow::Result<std::optional<DatasetRef>> FindPersisted(flight::NodeClient& client, const PipelineSpec& spec,
                                                       const std::vector<std::string>& path);
/// Puts `frame` on `node` under `descriptor` as `who`; the node's summary
/// as a ref (IOError naming `what` when it sends none). Counted by the
/// write observer (SetWriteObserver).
arrow::Result<DatasetRef> PutFrame(const flight::CallIdentity& who, const std::string& node,
                                   const frame::DataFrame& frame, const arrow::flight::FlightDescriptor& descriptor,
                                   const std::string& what);

/// Puts the frame `make()` builds under [tenant, dataset, partition] on
/// `node`; with a durable spec, reuses a dataset an earlier attempt left
/// there and persists before returning. With `keep_local`, the output also
/// stays in this process for the step that usually follows here (taken
/// from `*made_table` when make() built the frame from it). A run's own
/// datasets (`leased`) expire after the spec's dataset lease unless the run
/// renews it (RenewRun).
arrow::Result<DatasetRef> PutStageOutput(const PipelineSpec& spec, const std::string& node,
                                         const std::string& dataset, const std::string& partition,
                                         const std::function<arrow::Result<frame::DataFrame>()>& make,
                                         bool keep_local = false,
                                         std::shared_ptr<arrow::Table>* made_table = nullptr,
                                         bool leased = true);

/// The dataset of `ref` (input `input` of the stage); DatasetLost when the
/// node no longer has it.
arrow::Result<frame::DataFrame> ReadRef(const PipelineSpec& spec, const DatasetRef& ref, const std::string& input);

/// The dataset [tenant, dataset, partition] of a run found by path where
/// its copies are put (PlacementKeyOf; with replicas along the ranking),
/// with its path set for ReadRef's failover. DatasetLost (input `input`)
/// when no node that answered has it; the node's failure when its one node
/// does not answer.
arrow::Result<DatasetRef> FindByPath(const PipelineSpec& spec, const std::string& dataset,
                                     const std::string& partition, const std::string& input);

/// Invalid unless `run` can name files and datasets (1 to 200 characters,
/// no '/' or '\\').
arrow::Status CheckRun(const std::string& run);
/// The whole file (empty when unreadable).
std::string ReadSmallFile(const std::string& path);

// --- sources.cc ---------------------------------------------------------------

/// The spec's node rendezvous placement picks for `key`; Invalid when the
/// spec names no node (or one twice).
arrow::Result<std::string> NodeForKey(const PipelineSpec& spec, const std::string& key);
/// The spec's nodes in placement order for `key`, best first: `count` of
/// them (0: all).
arrow::Result<std::vector<std::string>> RankedNodes(const PipelineSpec& spec, const std::string& key,
                                                    size_t count = 0);
/// The placement key of partition `partition` of a run's dataset `dataset`:
/// ReduceKey(K) for a reduce's output and its buckets ("-reduce",
/// "-shuffle", "-shuffle-right"; partition "K" or "M-K"), else
/// PartitionKey of the partition (NodeFor's). Writers put its copies and
/// readers look for them along RankedNodes of it.
std::string PlacementKeyOf(const PipelineSpec& spec, const std::string& dataset, const std::string& partition);
/// The files of a file source, sorted, so every worker assigns them alike.
arrow::Result<std::vector<std::string>> ListSourceFiles(const std::string& path);
/// Partition `partition` of a generated source; `columns` empty: all.
arrow::Result<std::shared_ptr<arrow::Table>> GenerateTable(const SourceSpec& source, int32_t partition,
                                                           int32_t partitions, std::vector<std::string> columns = {});
/// Partition `partition` of `source` (the spec's or a join's) among the
/// spec's partitions, as ReadSourcePartition splits the spec's source.
arrow::Result<frame::DataFrame> ReadPartitionOf(const PipelineSpec& spec, const SourceSpec& source,
                                                int32_t partition);
/// A whole source (join sides).
arrow::Result<frame::DataFrame> ReadWholeSource(const PipelineSpec& spec, const SourceSpec& source);
/// Whether `needed` names `column`; SQL identifiers are case-insensitive.
bool Mentions(const std::set<std::string>& needed, const std::string& column);

// --- shuffle.cc ---------------------------------------------------------------

/// The column of a map's table that names each row's bucket (int32).
inline constexpr char kBucketColumn[] = "__flightdeck_bucket";
/// The dataset of the shuffle's (left) buckets: RUN + "-shuffle".
std::string ShuffleDataset(const std::string& run);
/// The nodes of reduces 0 to count - 1 (ReduceNodeFor).
arrow::Result<std::vector<std::string>> ReduceNodes(const PipelineSpec& spec, int32_t count);
/// Puts map `map`'s buckets of `table` under `dataset`: the rows whose
/// kBucketColumn is k (the column dropped, the rows' order kept) as bucket
/// k on nodes[k]. The rows and bytes of all buckets.
arrow::Result<DatasetRef> PutBucketTable(const PipelineSpec& spec, const std::vector<std::string>& nodes,
                                         const std::string& dataset, int32_t map,
                                         const std::shared_ptr<arrow::Table>& table);
/// The figures of map `map`'s buckets under every one of `datasets` when all
/// of them are on their nodes (durable specs), else nullopt.
arrow::Result<std::optional<DatasetRef>> BucketsThere(const PipelineSpec& spec, const std::vector<std::string>& nodes,
                                                      const std::vector<std::string>& datasets, int32_t map);

// --- stage_plan.cc ------------------------------------------------------------

using frame::ParseAggregation;
/// Whether partial results of `agg` combine (sum, count, min, max).
bool Combinable(const frame::Aggregation& agg);
/// Stages `range` and, with `partial`, the plan's partial global stages
/// after them (StagePlan: the aggregate, or the top-N's sort and limit);
/// Invalid when `partial` but none follows `range`.
arrow::Result<StageRange> WithPartial(const PipelineSpec& spec, StageRange range, bool partial);
/// An aggregate stage as the final combine of partial aggregates that had
/// the same output columns: counts and sums add up, min and max stay.
arrow::Result<frame::DataFrame> FinalAggregate(const StageSpec& stage, frame::DataFrame partials);

}  // namespace flightdeck::pipeline::internal
