// The range shuffle of a global sort (StagePlan.range): maps sample their
// sort keys, one activity turns the samples into boundaries, a split per
// map puts each range's rows in its reduce's bucket, and reduce k sorts
// the k-th range (Reduce in shuffle.cc).
//
// Keys compare as DuckDB's create_sort_key() blobs: the sort's directions
// and null order are folded into bytes whose memcmp order is the sort's
// order, so the boundaries and the split need no type-aware comparison.
#include <algorithm>
#include <string_view>

#include <arrow/array.h>
#include <arrow/builder.h>

#include "flightdeck/frame/sql_text.h"
#include "flightdeck/pipeline/stages_internal.h"

namespace flightdeck::pipeline {

using namespace internal;
using frame::DataFrame;

namespace {

constexpr char kSortKeyColumn[] = "__flightdeck_sort_key";
// Sample rows per reduce partition over all maps: the boundaries' ranges
// hold about 1/K of the rows each, within a few percent.
constexpr int64_t kSamplesPerReduce = 100;

std::string SampleDataset(const std::string& run) { return run + "-sample"; }
std::string BoundsDataset(const std::string& run) { return run + "-bounds"; }

// The sort stage the range shuffle partitions by.
arrow::Result<const StageSpec*> RangeSortOf(const PipelineSpec& spec, const std::string& run) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  const StagePlan plan = PlanStages(spec);
  if (!plan.range) return arrow::Status::Invalid("the spec of run ", run, " has no range shuffle");
  return &spec.stages[plan.reduce.begin];
}

// The SQL of a row's sort key: create_sort_key over the sort's columns with
// their directions and null order.
std::string SortKeySql(const StageSpec& sort) {
  std::string args;
  for (const auto& key : sort.sort) {
    args += (args.empty() ? "" : ", ") + frame::QuoteIdentifier(key.column) + ", '" +
            (key.descending ? "DESC" : "ASC") + (key.nulls_first ? " NULLS FIRST'" : " NULLS LAST'");
  }
  return "create_sort_key(" + args + ")";
}

// Calls `visit(i, bytes)` for every value of a binary column (DuckDB hands
// BLOBs out as binary, large binary or binary view, by its settings).
template <typename Visit>
arrow::Status ForEachBlob(const arrow::ChunkedArray& column, Visit&& visit) {
  int64_t row = 0;
  for (const auto& chunk : column.chunks()) {
    for (int64_t i = 0; i < chunk->length(); ++i, ++row) {
      std::string_view bytes;
      if (chunk->IsNull(i)) {
        bytes = {};
      } else if (chunk->type_id() == arrow::Type::BINARY) {
        bytes = static_cast<const arrow::BinaryArray&>(*chunk).GetView(i);
      } else if (chunk->type_id() == arrow::Type::LARGE_BINARY) {
        bytes = static_cast<const arrow::LargeBinaryArray&>(*chunk).GetView(i);
      } else if (chunk->type_id() == arrow::Type::BINARY_VIEW) {
        bytes = static_cast<const arrow::BinaryViewArray&>(*chunk).GetView(i);
      } else {
        return arrow::Status::Invalid("sort keys are ", chunk->type()->ToString(), ", not binary");
      }
      visit(row, bytes);
    }
  }
  return arrow::Status::OK();
}

// The column `name` of `table`; Invalid naming `what` when it is missing.
arrow::Result<std::shared_ptr<arrow::ChunkedArray>> ColumnOf(const arrow::Table& table, const char* name,
                                                             const std::string& what) {
  auto column = table.GetColumnByName(name);
  if (!column) return arrow::Status::Invalid(what, " has no column '", name, "'");
  return column;
}

// K-1 boundaries from weighted samples: the first key at which the running
// weight reaches i/K of the total, for i = 1 .. K-1 (none without samples).
std::vector<std::string> WeightedQuantiles(std::vector<std::pair<std::string, double>> samples, int32_t count) {
  std::sort(samples.begin(), samples.end());
  double total = 0;
  for (const auto& sample : samples) total += sample.second;
  std::vector<std::string> bounds;
  if (samples.empty() || count < 2) return bounds;
  double running = 0;
  size_t next = 0;
  for (int32_t i = 1; i < count; ++i) {
    const double target = total * i / count;
    while (next + 1 < samples.size() && running + samples[next].second < target) running += samples[next++].second;
    bounds.push_back(samples[next].first);
  }
  return bounds;
}

}  // namespace

arrow::Status PutSortSample(const PipelineSpec& spec, const std::string& run, int32_t map,
                            const DatasetRef& output) {
  ARROW_ASSIGN_OR_RAISE(const StageSpec* sort, RangeSortOf(spec, run));
  ARROW_ASSIGN_OR_RAISE(std::string node, NodeFor(spec, map));
  const StagePlan plan = PlanStages(spec);
  const int64_t wanted = std::max<int64_t>(1, kSamplesPerReduce * plan.shuffle / std::max(1, spec.partitions));
  const int64_t every = std::max<int64_t>(1, output.rows / wanted);
  return PutStageOutput(spec, node, SampleDataset(run), std::to_string(map), [&]() -> arrow::Result<DataFrame> {
           ARROW_ASSIGN_OR_RAISE(DataFrame rows, ReadRef(spec, output, std::to_string(map)));
           // Every n-th row in the output's order (deterministic for a
           // deterministic output), each standing for n rows.
           const std::string query = "SELECT key, CAST(" + std::to_string(every) +
                                     " AS DOUBLE) AS weight FROM (SELECT " + SortKeySql(*sort) +
                                     " AS key, row_number() OVER () AS fd_row FROM map_output) WHERE (fd_row - 1) % " +
                                     std::to_string(every) + " = 0";
           return DataFrame::Sql(query, {{"map_output", rows}});
         })
      .status();
}

arrow::Result<DatasetRef> SortBounds(const PipelineSpec& spec, const std::string& run) {
  ARROW_RETURN_NOT_OK(RangeSortOf(spec, run).status());
  const int32_t reduces = PlanStages(spec).shuffle;
  ARROW_ASSIGN_OR_RAISE(std::string node, NodeFor(spec, 0));
  return PutStageOutput(spec, node, BoundsDataset(run), "0", [&]() -> arrow::Result<DataFrame> {
    std::vector<std::pair<std::string, double>> samples;
    for (int32_t map = 0; map < spec.partitions; ++map) {
      const std::string input = std::to_string(map);
      ARROW_ASSIGN_OR_RAISE(DatasetRef ref, FindByPath(spec, SampleDataset(run), input, input));
      ARROW_ASSIGN_OR_RAISE(DataFrame frame, ReadRef(spec, ref, input));
      ARROW_ASSIGN_OR_RAISE(auto table, frame.Collect());
      const std::string what = "the sort sample of map " + input;
      ARROW_ASSIGN_OR_RAISE(auto keys, ColumnOf(*table, "key", what));
      ARROW_ASSIGN_OR_RAISE(auto weights, ColumnOf(*table, "weight", what));
      const size_t first = samples.size();
      ARROW_RETURN_NOT_OK(ForEachBlob(*keys, [&](int64_t, std::string_view bytes) {
        samples.emplace_back(std::string(bytes), 1.0);
      }));
      int64_t row = 0;
      for (const auto& chunk : weights->chunks()) {
        if (chunk->type_id() != arrow::Type::DOUBLE) {
          return arrow::Status::Invalid(what, ": weights are ", chunk->type()->ToString(), ", not double");
        }
        const auto& values = static_cast<const arrow::DoubleArray&>(*chunk);
        for (int64_t i = 0; i < values.length(); ++i) samples[first + static_cast<size_t>(row++)].second = values.Value(i);
      }
    }
    arrow::BinaryBuilder builder;
    for (const auto& bound : WeightedQuantiles(std::move(samples), reduces)) ARROW_RETURN_NOT_OK(builder.Append(bound));
    ARROW_ASSIGN_OR_RAISE(auto bounds, builder.Finish());
    return DataFrame::FromTable(
        arrow::Table::Make(arrow::schema({arrow::field("key", arrow::binary())}), {bounds}));
  });
}

arrow::Result<DatasetRef> RangeSplit(const PipelineSpec& spec, const std::string& run, int32_t map,
                                     const DatasetRef& input) {
  ARROW_ASSIGN_OR_RAISE(const StageSpec* sort, RangeSortOf(spec, run));
  const int32_t reduces = PlanStages(spec).shuffle;
  if (map < 0 || map >= spec.partitions) {
    return arrow::Status::Invalid("map ", map, " out of range [0, ", spec.partitions, ")");
  }
  ARROW_ASSIGN_OR_RAISE(const std::vector<std::string> nodes, ReduceNodes(spec, reduces));
  if (spec.durable) {
    // A retry finds every bucket an earlier attempt put: nothing to read.
    ARROW_ASSIGN_OR_RAISE(std::optional<DatasetRef> there, BucketsThere(spec, nodes, {ShuffleDataset(run)}, map));
    if (there) return *there;
  }
  ARROW_ASSIGN_OR_RAISE(DatasetRef bounds_ref, FindByPath(spec, BoundsDataset(run), "0", "bounds"));
  ARROW_ASSIGN_OR_RAISE(DataFrame bounds_frame, ReadRef(spec, bounds_ref, "bounds"));
  ARROW_ASSIGN_OR_RAISE(auto bounds_table, bounds_frame.Collect());
  ARROW_ASSIGN_OR_RAISE(auto bound_keys, ColumnOf(*bounds_table, "key", "the sort boundaries"));
  std::vector<std::string> bounds;
  ARROW_RETURN_NOT_OK(
      ForEachBlob(*bound_keys, [&](int64_t, std::string_view bytes) { bounds.emplace_back(bytes); }));
  if (static_cast<int32_t>(bounds.size()) >= reduces) {
    return arrow::Status::Invalid("the sort boundaries are ", bounds.size(), " for ", reduces, " reduces");
  }

  ARROW_ASSIGN_OR_RAISE(DataFrame rows, ReadRef(spec, input, std::to_string(map)));
  const std::string query = "SELECT *, " + SortKeySql(*sort) + " AS " + kSortKeyColumn + " FROM map_output";
  ARROW_ASSIGN_OR_RAISE(auto table, DataFrame::Sql(query, {{"map_output", rows}}).Collect());
  const int key_index = table->schema()->GetFieldIndex(kSortKeyColumn);
  if (key_index < 0) return arrow::Status::Invalid("the split's table has no sort key column");
  // A row's bucket: how many boundaries sort before its key (equal keys
  // share a bucket; the buckets in order hold the rows in sort order).
  arrow::Int32Builder buckets;
  ARROW_RETURN_NOT_OK(buckets.Reserve(table->num_rows()));
  ARROW_RETURN_NOT_OK(ForEachBlob(*table->column(key_index), [&](int64_t, std::string_view key) {
    buckets.UnsafeAppend(static_cast<int32_t>(
        std::lower_bound(bounds.begin(), bounds.end(), key,
                         [](const std::string& bound, std::string_view k) { return std::string_view(bound) < k; }) -
        bounds.begin()));
  }));
  ARROW_ASSIGN_OR_RAISE(auto bucket_array, buckets.Finish());
  ARROW_ASSIGN_OR_RAISE(table, table->RemoveColumn(key_index));
  ARROW_ASSIGN_OR_RAISE(table, table->AddColumn(table->num_columns(), arrow::field(kBucketColumn, arrow::int32()),
                                                std::make_shared<arrow::ChunkedArray>(bucket_array)));
  return PutBucketTable(spec, nodes, ShuffleDataset(run), map, table);
}

}  // namespace flightdeck::pipeline
