// flightdeck/frame/plan_internal.h: the logical plan behind DataFrame and
// its lowering to an Acero Declaration. Internal to the frame layer.
//
// A plan is a tree of immutable PlanNodes. Each node knows its output schema,
// computed when it is made, so that errors surface at the operation that
// caused them. Lowering rewrites the tree into Acero nodes and applies two
// optimizations to dataset scans: column pruning (only columns that some node
// above reads are decoded) and filter pushdown (filters directly above a scan
// become the scan's filter, which skips Parquet row groups by statistics).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/acero/exec_plan.h>
#include <arrow/acero/options.h>
#include <arrow/compute/api_aggregate.h>
#include <arrow/compute/expression.h>
#include <arrow/compute/ordering.h>
#include <arrow/dataset/type_fwd.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

namespace flightdeck::frame::internal {

enum class NodeKind { kSource, kScan, kFilter, kProject, kAggregate, kJoin, kOrderBy, kFetch, kUnion };

/// One operation of a plan. Immutable once made; shared between DataFrames.
struct PlanNode {
  NodeKind kind = NodeKind::kSource;
  std::vector<std::shared_ptr<const PlanNode>> inputs;
  std::shared_ptr<arrow::Schema> schema;
  /// One line for Explain().
  std::string label;
  /// The plan must run single-threaded to keep input order (first / last).
  bool needs_order = false;

  // kSource: a ready Acero source declaration (table, reader).
  arrow::acero::Declaration source;
  // kSource over a one-shot stream: set once an execution has claimed it.
  std::shared_ptr<std::atomic<bool>> consumed;
  // kScan
  std::shared_ptr<arrow::dataset::Dataset> dataset;
  // kFilter
  arrow::compute::Expression predicate;
  // kProject
  std::vector<arrow::compute::Expression> expressions;
  std::vector<std::string> names;
  // kAggregate
  std::vector<arrow::compute::Aggregate> aggregates;
  std::vector<arrow::FieldRef> keys;
  // kJoin (the right input is already renamed so that names do not collide)
  arrow::acero::JoinType join_type = arrow::acero::JoinType::INNER;
  std::vector<arrow::FieldRef> left_keys;
  std::vector<arrow::FieldRef> right_keys;
  // kOrderBy
  std::vector<arrow::compute::SortKey> sort_keys;
  // kFetch
  int64_t offset = 0;
  int64_t count = 0;
};

using NodePtr = std::shared_ptr<const PlanNode>;

/// Registers Arrow's compute kernels (Arrow >= 21 keeps them in a separate
/// library that must be initialized) and the dataset's Acero nodes, once.
/// Thread-safe; cheap after the first call.
arrow::Status EnsureInitialized();

/// Makes `node` (inputs and payload set) complete: computes its schema by
/// planning it over empty inputs, which also validates it. Errors carry the
/// operation name `op`.
arrow::Result<NodePtr> Finish(std::shared_ptr<PlanNode> node, const std::string& op);

/// The Acero declaration for the plan rooted at `root`, optimized. May start
/// executing parts of the plan (a Limit over unordered input runs its input
/// as a separate streaming plan; an aggregate the fused path takes, see
/// fused_aggregate.h, runs to completion and becomes a table source): call
/// only to execute the result.
arrow::Result<arrow::acero::Declaration> Lower(const NodePtr& root);

/// The memory pool plans execute with (scans, Acero nodes, results).
/// Arrow's default is mimalloc, which with transparent huge pages keeps
/// faulting in and zeroing fresh 2 MiB pages as decoded column buffers churn
/// through a scan (a fifth of the CPU time of a Parquet aggregation). Frames
/// therefore use Arrow's jemalloc pool when this Arrow build has it, else
/// the system allocator, unless ARROW_DEFAULT_MEMORY_POOL names a pool, which
/// is then respected. Thread-safe; the pool lives as long as the process.
arrow::MemoryPool* ExecutionPool();

/// Whether any node of the plan needs single-threaded execution.
bool NeedsOrder(const NodePtr& root);

/// Explain() text of the plan rooted at `root`.
std::string ExplainPlan(const NodePtr& root);

/// Fails with Invalid naming `op`, the unknown column and the columns there
/// are, unless `schema` has exactly one field named `name`.
arrow::Status CheckColumn(const arrow::Schema& schema, const std::string& name,
                          const std::string& op);

}  // namespace flightdeck::frame::internal
