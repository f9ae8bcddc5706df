// The hash shuffle of a global aggregate or distinct (StagePlan.shuffle):
// maps split their partition's rows into buckets by a hash of the keys and
// put each on its reduce's node; reduce k reads bucket k of every map.
#include <optional>

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/api_vector.h>
#include <arrow/datum.h>

#include "flightdeck/frame/sql_text.h"
#include "flightdeck/pipeline/stages_internal.h"

namespace flightdeck::pipeline {

using namespace internal;
using frame::DataFrame;

namespace {

constexpr char kBucketColumn[] = "__flightdeck_bucket";

std::string ShuffleDataset(const std::string& run) { return run + "-shuffle"; }
std::string ReduceDataset(const std::string& run) { return run + "-reduce"; }

// The columns whose hash picks a row's bucket: the aggregate's groups, or
// every column for a distinct.
std::vector<std::string> ShuffleKeys(const StageSpec& stage, const arrow::Schema& schema) {
  if (stage.kind == StageSpec::Kind::kAggregate) return stage.aggregate.by;
  std::vector<std::string> keys;
  for (const auto& field : schema.fields()) keys.push_back(field->name());
  return keys;
}

// `table` split into `count` tables by its bucket column (dropped), each
// keeping the rows' order.
arrow::Result<std::vector<std::shared_ptr<arrow::Table>>> SplitByBucket(
    const std::shared_ptr<arrow::Table>& table, int32_t count) {
  const int index = table->schema()->GetFieldIndex(kBucketColumn);
  if (index < 0) return arrow::Status::Invalid("the map output has no bucket column");
  std::vector<arrow::Int64Builder> rows(static_cast<size_t>(count));
  int64_t offset = 0;
  for (const auto& chunk : table->column(index)->chunks()) {
    const auto& buckets = static_cast<const arrow::Int32Array&>(*chunk);
    for (int64_t i = 0; i < buckets.length(); ++i) {
      const int32_t bucket = buckets.IsNull(i) ? 0 : buckets.Value(i);
      if (bucket < 0 || bucket >= count) {
        return arrow::Status::Invalid("bucket ", bucket, " out of range [0, ", count, ")");
      }
      ARROW_RETURN_NOT_OK(rows[static_cast<size_t>(bucket)].Append(offset + i));
    }
    offset += buckets.length();
  }
  ARROW_ASSIGN_OR_RAISE(auto without, table->RemoveColumn(index));
  std::vector<std::shared_ptr<arrow::Table>> parts;
  parts.reserve(rows.size());
  for (auto& builder : rows) {
    ARROW_ASSIGN_OR_RAISE(auto indices, builder.Finish());
    ARROW_ASSIGN_OR_RAISE(arrow::Datum taken, arrow::compute::Take(arrow::Datum(without), arrow::Datum(indices)));
    parts.push_back(taken.table());
  }
  return parts;
}

}  // namespace

std::string ReduceKey(const PipelineSpec& spec, int32_t reduce) {
  return spec.tenant + "/" + spec.name + "/reduce/" + std::to_string(reduce);
}

arrow::Result<std::string> ReduceNodeFor(const PipelineSpec& spec, int32_t reduce) {
  return NodeForKey(spec, ReduceKey(spec, reduce));
}

std::string BucketName(int32_t map, int32_t reduce) {
  return std::to_string(map) + "-" + std::to_string(reduce);
}

arrow::Result<DatasetRef> ShuffleMap(const PipelineSpec& spec, const std::string& run, int32_t map,
                                     const std::optional<DatasetRef>& input, StageRange range) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  const StagePlan plan = PlanStages(spec);
  if (plan.shuffle <= 0) return arrow::Status::Invalid("the spec of run ", run, " has no shuffle");
  if (range.end != plan.per_partition.end) {
    return arrow::Status::Invalid("the map of run ", run, " must end the per-partition stages");
  }
  std::vector<std::string> nodes;
  for (int32_t k = 0; k < plan.shuffle; ++k) {
    ARROW_ASSIGN_OR_RAISE(std::string node, ReduceNodeFor(spec, k));
    nodes.push_back(std::move(node));
  }
  // A durable retry finds every bucket an earlier attempt put (puts are
  // atomic): nothing to compute.
  DatasetRef total;
  if (spec.durable) {
    bool all = true;
    for (int32_t k = 0; k < plan.shuffle && all; ++k) {
      ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(nodes[k]));
      ARROW_ASSIGN_OR_RAISE(auto found,
                            client->Find(Who(spec), {spec.tenant, ShuffleDataset(run), BucketName(map, k)}));
      all = found.has_value();
    }
    if (all) {
      for (int32_t k = 0; k < plan.shuffle; ++k) {
        auto bucket = PutStageOutput(spec, nodes[k], ShuffleDataset(run), BucketName(map, k),
                                     [] { return arrow::Status::Invalid("unreachable: the bucket exists"); });
        ARROW_RETURN_NOT_OK(bucket.status());
        total.rows += bucket->rows;
        total.bytes += bucket->bytes;
      }
      total.durable = true;
      return total;
    }
  }
  StageRange with_partial = range;
  if (plan.partial_aggregate) with_partial.end += 1;
  ARROW_ASSIGN_OR_RAISE(DataFrame in, input ? ReadRef(spec, *input, std::to_string(map))
                                            : ReadSourcePartition(spec, map));
  ARROW_ASSIGN_OR_RAISE(DataFrame rows, ApplyStages(spec, std::move(in), with_partial));
  ARROW_ASSIGN_OR_RAISE(auto schema, rows.schema());
  std::string hash;
  for (const auto& key : ShuffleKeys(spec.stages[plan.reduce.begin], *schema)) {
    hash += (hash.empty() ? "" : ", ") + frame::QuoteIdentifier(key);
  }
  const std::string query = "SELECT *, CAST(hash(" + hash + ") % " + std::to_string(plan.shuffle) +
                            " AS INTEGER) AS " + kBucketColumn + " FROM map_output";
  ARROW_ASSIGN_OR_RAISE(auto table, DataFrame::Sql(query, {{"map_output", rows}}).Collect());
  ARROW_ASSIGN_OR_RAISE(auto buckets, SplitByBucket(table, plan.shuffle));
  for (int32_t k = 0; k < plan.shuffle; ++k) {
    ARROW_ASSIGN_OR_RAISE(DatasetRef bucket,
                          PutStageOutput(spec, nodes[k], ShuffleDataset(run), BucketName(map, k),
                                         [&] { return DataFrame::FromTable(buckets[k]); }));
    total.rows += bucket.rows;
    total.bytes += bucket.bytes;
    total.durable = bucket.durable;
  }
  return total;
}

arrow::Result<DatasetRef> Reduce(const PipelineSpec& spec, const std::string& run, int32_t reduce) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  const StagePlan plan = PlanStages(spec);
  if (reduce < 0 || reduce >= plan.shuffle) {
    return arrow::Status::Invalid("reduce ", reduce, " out of range [0, ", plan.shuffle, ")");
  }
  ARROW_ASSIGN_OR_RAISE(std::string node, ReduceNodeFor(spec, reduce));
  ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(node));
  return PutStageOutput(spec, node, ReduceDataset(run), std::to_string(reduce), [&]() -> arrow::Result<DataFrame> {
    std::optional<DataFrame> all;
    for (int32_t map = 0; map < spec.partitions; ++map) {
      ARROW_ASSIGN_OR_RAISE(auto ticket,
                            client->Find(Who(spec), {spec.tenant, ShuffleDataset(run), BucketName(map, reduce)}));
      if (!ticket) {
        return DatasetLost(std::to_string(map),
                           arrow::Status::KeyError("bucket ", BucketName(map, reduce), " of run ", run,
                                                   " is not on node ", node));
      }
      DatasetRef ref;
      ref.node = node;
      ref.ticket = *ticket;
      ARROW_ASSIGN_OR_RAISE(DataFrame part, ReadRef(spec, ref, std::to_string(map)));
      all = all ? all->Union(part) : part;
    }
    if (!plan.partial_aggregate) return ApplyStages(spec, *all, plan.reduce);
    ARROW_ASSIGN_OR_RAISE(DataFrame combined, FinalAggregate(spec.stages[plan.reduce.begin], *all));
    return ApplyStages(spec, std::move(combined), {plan.reduce.begin + 1, plan.reduce.end});
  });
}

}  // namespace flightdeck::pipeline
