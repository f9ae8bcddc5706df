// flightdeck/frame/fused_aggregate.h: a fused execution path for plans of
// the shape Aggregate <- (Filter | Project)* <- Scan. Internal to the frame
// layer.
//
// Acero runs such a plan as separate nodes: the filter copies every column
// of every batch (even columns only the predicate reads, even when it keeps
// 98% of the rows), the projection materializes new columns, the scan expands
// dictionary-encoded strings to plain strings, and the hash aggregate then
// hashes those strings again. The fused path instead folds the projections
// into the expressions that read them, evaluates the conjunction of the
// predicates per batch as a selection bitmap, and aggregates the selected rows
// in place; string group keys that the Parquet file stores dictionary-encoded
// are grouped by their (unified) dictionary codes and turned back into
// strings only for the result.
//
// Over Parquet files, plans without dictionary keys read through
// ParquetColumnScan (parquet_column_scan.h): `column OP constant` conjuncts
// are evaluated on each column chunk's dictionary, columns only they read
// are never materialized, and batches where few rows pass are compacted
// before the aggregate inputs are evaluated.
//
// It covers sum, mean, count and count_all over integer and floating-point
// inputs; any other plan (other aggregates, other input types, expressions
// that could fail on rows a filter below them drops) runs through Acero.
// Results equal Acero's, up to the order of floating-point additions.
#pragma once

#include <memory>
#include <string>

#include <arrow/memory_pool.h>
#include <arrow/result.h>
#include <arrow/table.h>

#include "flightdeck/frame/plan_internal.h"

namespace flightdeck::frame::internal {

/// The fused form of one aggregate node. Immutable; may be run several times
/// and from several threads.
class FusedAggregate {
 public:
  /// The fused form of `node`, or null when `node` is not an aggregate of a
  /// supported shape (see the file comment). Never fails: anything it cannot
  /// fuse is left to Acero.
  static std::shared_ptr<const FusedAggregate> Match(const PlanNode& node);

  /// Runs the scan and the aggregation; the result has `node.schema`.
  /// Errors: those of the scan (unreadable files) and of expression
  /// evaluation.
  arrow::Result<std::shared_ptr<arrow::Table>> Run(arrow::MemoryPool* pool) const;

  /// A short note for Explain(), e.g. "fused dictionary-keys=[region]".
  std::string Describe() const;

  struct Impl;
  explicit FusedAggregate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace flightdeck::frame::internal
