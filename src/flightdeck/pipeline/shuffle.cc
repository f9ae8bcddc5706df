// The hash shuffle of a global aggregate, a distinct or a shuffled join
// (StagePlan.shuffle): maps split their partition's rows (and a join's
// source partition) into buckets by a hash of the keys and put each on its
// reduce's node; reduce k reads bucket k of every map.
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

std::string ShuffleRightDataset(const std::string& run) { return run + "-shuffle-right"; }
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

// The SQL terms whose hash picks a row's bucket: the keys as they are.
std::vector<std::string> HashTerms(const std::vector<std::string>& keys) {
  std::vector<std::string> terms;
  for (const auto& key : keys) terms.push_back(frame::QuoteIdentifier(key));
  return terms;
}

bool IsNumeric(const arrow::DataType& type) {
  return arrow::is_integer(type.id()) || arrow::is_floating(type.id()) || arrow::is_decimal(type.id());
}

// The hash terms of a join's two sides: a key pair of different types is
// cast to one both hash alike for equal values (BIGINT for integers, DOUBLE
// for other numbers, VARCHAR otherwise), as the join compares them.
arrow::Result<std::pair<std::vector<std::string>, std::vector<std::string>>> JoinHashTerms(
    const JoinSpec& join, const arrow::Schema& left, const arrow::Schema& right) {
  const auto& right_on = join.right_on.empty() ? join.on : join.right_on;
  std::pair<std::vector<std::string>, std::vector<std::string>> terms;
  for (size_t i = 0; i < join.on.size(); ++i) {
    const auto l = left.GetFieldByName(join.on[i]);
    const auto r = right.GetFieldByName(right_on[i]);
    if (!l || !r) {
      return arrow::Status::Invalid("join key ", !l ? join.on[i] : right_on[i], " is not a column of the ",
                                    !l ? "stage's input" : "joined source");
    }
    std::string as;
    if (!l->type()->Equals(*r->type())) {
      as = arrow::is_integer(l->type()->id()) && arrow::is_integer(r->type()->id()) ? "BIGINT"
           : IsNumeric(*l->type()) && IsNumeric(*r->type())                        ? "DOUBLE"
                                                                                    : "VARCHAR";
    }
    const auto term = [&](const std::string& column) {
      const std::string quoted = frame::QuoteIdentifier(column);
      return as.empty() ? quoted : "CAST(" + quoted + " AS " + as + ")";
    };
    terms.first.push_back(term(join.on[i]));
    terms.second.push_back(term(right_on[i]));
  }
  return terms;
}

// Puts map `map`'s buckets of `rows` under `dataset` (bucket k on
// nodes[k]), split by the hash of `terms`. The rows and bytes of all
// buckets.
arrow::Result<DatasetRef> PutBuckets(const PipelineSpec& spec, const std::vector<std::string>& nodes,
                                     const std::string& dataset, int32_t map, const DataFrame& rows,
                                     const std::vector<std::string>& terms) {
  std::string hash;
  for (const auto& term : terms) hash += (hash.empty() ? "" : ", ") + term;
  const std::string query = "SELECT *, CAST(hash(" + hash + ") % " + std::to_string(nodes.size()) +
                            " AS INTEGER) AS " + kBucketColumn + " FROM map_output";
  ARROW_ASSIGN_OR_RAISE(auto table, DataFrame::Sql(query, {{"map_output", rows}}).Collect());
  return PutBucketTable(spec, nodes, dataset, map, table);
}

}  // namespace

namespace internal {

std::string ShuffleDataset(const std::string& run) { return run + "-shuffle"; }

arrow::Result<std::vector<std::string>> ReduceNodes(const PipelineSpec& spec, int32_t count) {
  std::vector<std::string> nodes;
  for (int32_t k = 0; k < count; ++k) {
    ARROW_ASSIGN_OR_RAISE(std::string node, ReduceNodeFor(spec, k));
    nodes.push_back(std::move(node));
  }
  return nodes;
}

arrow::Result<DatasetRef> PutBucketTable(const PipelineSpec& spec, const std::vector<std::string>& nodes,
                                         const std::string& dataset, int32_t map,
                                         const std::shared_ptr<arrow::Table>& table) {
  const auto count = static_cast<int32_t>(nodes.size());
  ARROW_ASSIGN_OR_RAISE(auto buckets, SplitByBucket(table, count));
  DatasetRef total;
  for (int32_t k = 0; k < count; ++k) {
    // A durable bucket an earlier attempt put stays (PutStageOutput finds it).
    ARROW_ASSIGN_OR_RAISE(DatasetRef bucket, PutStageOutput(spec, nodes[k], dataset, BucketName(map, k),
                                                            [&] { return DataFrame::FromTable(buckets[k]); }));
    total.rows += bucket.rows;
    total.bytes += bucket.bytes;
    total.durable = bucket.durable;
  }
  return total;
}

arrow::Result<std::optional<DatasetRef>> BucketsThere(const PipelineSpec& spec, const std::vector<std::string>& nodes,
                                                      const std::vector<std::string>& datasets, int32_t map) {
  DatasetRef total;
  for (const auto& dataset : datasets) {
    for (size_t k = 0; k < nodes.size(); ++k) {
      const std::string name = BucketName(map, static_cast<int32_t>(k));
      auto bucket = [&]() -> arrow::Result<std::optional<DatasetRef>> {
        ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(nodes[k]));
        return FindPersisted(*client, spec, {spec.tenant, dataset, name});
      }();
      // Not there, or its node does not answer: the map puts what is missing.
      if (!bucket.ok() || !*bucket) return std::nullopt;
      total.rows += (*bucket)->rows;
      total.bytes += (*bucket)->bytes;
      total.durable = true;
    }
  }
  return total;
}

}  // namespace internal

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
  if (plan.shuffle <= 0 || plan.range) {
    return arrow::Status::Invalid("the spec of run ", run, " has no hash shuffle");
  }
  if (range.end != plan.per_partition.end) {
    return arrow::Status::Invalid("the map of run ", run, " must end the per-partition stages");
  }
  ARROW_ASSIGN_OR_RAISE(const std::vector<std::string> nodes, ReduceNodes(spec, plan.shuffle));
  const StageSpec& keyed = spec.stages[plan.reduce.begin];
  std::vector<std::string> datasets = {ShuffleDataset(run)};
  if (keyed.kind == StageSpec::Kind::kJoin) datasets.push_back(ShuffleRightDataset(run));
  if (spec.durable) {
    // A retry finds every bucket an earlier attempt put (puts are atomic):
    // nothing to read or compute.
    ARROW_ASSIGN_OR_RAISE(std::optional<DatasetRef> there, BucketsThere(spec, nodes, datasets, map));
    if (there) return *there;
  }
  StageRange with_partial = range;
  if (plan.partial_aggregate) with_partial.end += 1;
  ARROW_ASSIGN_OR_RAISE(DataFrame in, input ? ReadRef(spec, *input, std::to_string(map))
                                            : ReadSourcePartition(spec, map));
  ARROW_ASSIGN_OR_RAISE(DataFrame rows, ApplyStages(spec, std::move(in), with_partial));
  ARROW_ASSIGN_OR_RAISE(auto schema, rows.schema());
  if (keyed.kind != StageSpec::Kind::kJoin) {
    return PutBuckets(spec, nodes, ShuffleDataset(run), map, rows, HashTerms(ShuffleKeys(keyed, *schema)));
  }
  // A shuffled join maps both sides: its left rows and partition `map` of
  // its source, each on its own keys, hashed alike for equal keys.
  ARROW_ASSIGN_OR_RAISE(DataFrame right, ReadPartitionOf(spec, keyed.join.source, map));
  ARROW_ASSIGN_OR_RAISE(auto right_schema, right.schema());
  ARROW_ASSIGN_OR_RAISE(auto terms, JoinHashTerms(keyed.join, *schema, *right_schema));
  ARROW_ASSIGN_OR_RAISE(DatasetRef left_total,
                        PutBuckets(spec, nodes, ShuffleDataset(run), map, rows, terms.first));
  ARROW_ASSIGN_OR_RAISE(DatasetRef right_total,
                        PutBuckets(spec, nodes, ShuffleRightDataset(run), map, right, terms.second));
  left_total.rows += right_total.rows;
  left_total.bytes += right_total.bytes;
  return left_total;
}

arrow::Result<DatasetRef> Reduce(const PipelineSpec& spec, const std::string& run, int32_t reduce) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  const StagePlan plan = PlanStages(spec);
  if (reduce < 0 || reduce >= plan.shuffle) {
    return arrow::Status::Invalid("reduce ", reduce, " out of range [0, ", plan.shuffle, ")");
  }
  ARROW_ASSIGN_OR_RAISE(std::string node, ReduceNodeFor(spec, reduce));
  // Bucket `reduce` of every map under `dataset`, in map order.
  const auto gather = [&](const std::string& dataset) -> arrow::Result<DataFrame> {
    std::optional<DataFrame> all;
    for (int32_t map = 0; map < spec.partitions; ++map) {
      const std::string input = std::to_string(map);
      ARROW_ASSIGN_OR_RAISE(DatasetRef ref, FindByPath(spec, dataset, BucketName(map, reduce), input));
      ARROW_ASSIGN_OR_RAISE(DataFrame part, ReadRef(spec, ref, input));
      all = all ? all->Union(part) : part;
    }
    return *all;
  };
  const StageSpec& keyed = spec.stages[plan.reduce.begin];
  return PutStageOutput(spec, node, ReduceDataset(run), std::to_string(reduce), [&]() -> arrow::Result<DataFrame> {
    ARROW_ASSIGN_OR_RAISE(DataFrame left, gather(ShuffleDataset(run)));
    DataFrame keyed_output = left;
    if (keyed.kind == StageSpec::Kind::kJoin) {
      ARROW_ASSIGN_OR_RAISE(DataFrame right, gather(ShuffleRightDataset(run)));
      ARROW_ASSIGN_OR_RAISE(auto kind, frame::ParseJoinKind(keyed.join.how));
      keyed_output = left.Join(right, keyed.join.on,
                               keyed.join.right_on.empty() ? keyed.join.on : keyed.join.right_on, kind);
    } else if (plan.partial_aggregate) {
      ARROW_ASSIGN_OR_RAISE(keyed_output, FinalAggregate(keyed, left));
    } else {
      return ApplyStages(spec, std::move(left), plan.reduce);
    }
    return ApplyStages(spec, std::move(keyed_output), {plan.reduce.begin + 1, plan.reduce.end});
  });
}

}  // namespace flightdeck::pipeline
