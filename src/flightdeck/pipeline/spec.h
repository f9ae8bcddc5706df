// flightdeck/pipeline/spec.h: the pipeline spec, a YAML file a user writes.
//
//   name: orders-etl
//   tenant: acme
//   source:
//     generate: {rows: 20000000, seed: 42}        # or parquet|csv|ipc: <path or glob>
//                                                  # or flight: {ticket: <base64>}
//   stages:
//     - filter: "amount > 10 and category is not null"
//     - with_column: {name: amount_eur, expr: "amount * 0.92"}
//     - select: [id, customer, amount_eur, category]
//     - aggregate: {by: [category], aggs: {total: "sum(amount_eur)", orders: "count(id)"}}
//     - join: {source: {parquet: customers.parquet}, on: [customer], right_on: [id], how: left}
//                                     # strategy: shuffle for two large inputs (default broadcast)
//     - sort: [{column: total, descending: true}]
//     - limit: 100
//     - rename: {amount_eur: eur}           # also: drop: [a, b], cast: {column: c, type: double},
//                                          #       distinct: true
//     - python: {transform: add_discount, task_queue: py-stages}   # a Python worker's stage
//                                     # (task_queue default: <task_queue>-python;
//                                     #  start_timeout_ms: 60000 waiting for a worker)
//   sink:
//     parquet: out/orders                          # or ipc|csv: <dir>, or flight: {dataset: name}
//   partitions: 8
//   shuffle: auto         # reduce partitions of a global aggregate, distinct or sort: a number, off,
//                         # or auto (one per partition with several nodes, off with one)
//   parallelism: 2
//   replicas: 1           # copies of each intermediate dataset, on distinct nodes
//   locality: false       # steps first to workers beside their data's node (worker --node)
//   durable: true
//   deterministic: true   # same input, same output bytes (one engine thread per stage query)
//   retry: {max_attempts: 3, initial_interval_ms: 1000, backoff: 2.0, max_interval_ms: 30000}
//   nodes: [grpc+tcp://127.0.0.1:7100]     # or {location: LOC, weight: 2}; or from `run --cluster`
//   task_queue: flightdeck
//   retention: 0          # keep the run's intermediate datasets this long after it ends (90s, 15m, 2h, 7d)
//   dataset_lease: 15m    # they expire this long after the running workflow last renewed them
//
// ParsePipelineSpec checks structure and values before anything starts and
// names the line and the reason of the first problem it finds. Expressions
// stay strings here; CheckSpec (spec_check.h) binds them against the data. The workflow receives the
// spec's text, not a parsed form, so workers of any version parse the same
// document.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

namespace flightdeck::pipeline {

/// Where a value starts in the spec file: 1-based line and column (0 when
/// not known), for errors found after parsing (CheckSpec).
struct SpecPosition {
  int line = 0;
  int column = 0;
};

/// Where rows come from.
struct SourceSpec {
  enum class Kind { kGenerate, kParquet, kCsv, kIpc, kFlight };
  Kind kind = Kind::kGenerate;
  /// kParquet/kCsv/kIpc: a file, a directory or a glob.
  std::string path;
  /// kFlight: the ticket (base64 of its bytes) and optionally the node.
  std::string ticket;
  std::string node;
  /// kGenerate.
  int64_t rows = 0;
  uint64_t seed = 42;
  /// Where the source's path, ticket or generator is written.
  SpecPosition at;
};

struct AggregateSpec {
  std::vector<std::string> by;
  /// Output column name -> aggregate expression such as "sum(amount)".
  std::vector<std::pair<std::string, std::string>> aggs;
};

struct SortKeySpec {
  std::string column;
  bool descending = false;
  bool nulls_first = false;
};

struct JoinSpec {
  SourceSpec source;
  /// Key columns of the stage's input, and of the joined source (right_on
  /// defaults to on): on[i] = right_on[i].
  std::vector<std::string> on;
  std::vector<std::string> right_on;
  /// inner, left, right, full, semi, anti.
  std::string how = "inner";
  /// strategy: broadcast (false, the default: every partition joins the
  /// whole source) or shuffle (true: both sides hash-partitioned on their
  /// keys, bucket k joined with bucket k in reduce k; StagePlan in stages.h).
  bool shuffle = false;
};

/// One transformation. Exactly the fields of its kind are set.
struct StageSpec {
  enum class Kind {
    kFilter, kWithColumn, kSelect, kAggregate, kJoin, kSort, kLimit, kPython,
    kRename, kDrop, kCast, kDistinct
  };
  Kind kind = Kind::kFilter;
  /// 1-based line of the stage in the spec file, for later error messages.
  int line = 0;
  std::string expr;                   // kFilter, kWithColumn
  std::string name;                   // kWithColumn; kPython: the transform's name;
                                      //   kCast: the column
  std::string task_queue;             // kPython: where the Python stage worker polls
                                      //   (default "<spec task_queue>-python")
  int64_t start_timeout_ms = 60000;   // kPython: how long a task may wait for a worker
  std::vector<std::string> columns;   // kSelect, kDrop
  std::vector<std::pair<std::string, std::string>> renames;  // kRename: old -> new, in order
  std::string type;                   // kCast: the type's name (e.g. "double", "decimal(12,2)")
  AggregateSpec aggregate;            // kAggregate
  JoinSpec join;                      // kJoin
  std::vector<SortKeySpec> sort;      // kSort
  int64_t limit = 0;                  // kLimit
  /// Where the texts are written: the expression (kFilter, kWithColumn),
  /// each aggregate expression (parallel to aggregate.aggs), and each
  /// column name the stage names (select, by, on, right_on, sort, the
  /// with_column name, drop, the renamed and cast columns), in order; the
  /// cast's type at expr_at.
  SpecPosition expr_at;
  std::vector<SpecPosition> aggs_at;
  std::vector<std::pair<std::string, SpecPosition>> names_at;
};

struct SinkSpec {
  enum class Kind { kParquet, kCsv, kIpc, kFlight };
  Kind kind = Kind::kParquet;
  /// kParquet/kCsv/kIpc: the output directory.
  std::string path;
  /// kFlight: the dataset name under the spec's tenant.
  std::string dataset;
  SpecPosition at;
};

struct RetrySpec {
  int32_t max_attempts = 3;
  int64_t initial_interval_ms = 1000;
  double backoff = 2.0;
  int64_t max_interval_ms = 30000;
};

struct PipelineSpec {
  std::string name;
  std::string tenant = "default";
  SourceSpec source;
  std::vector<StageSpec> stages;
  SinkSpec sink;
  int32_t partitions = 1;
  /// How many reduce partitions a hash shuffle of a global aggregate (with
  /// groups) or distinct, or the range shuffle of a global sort, has
  /// (StagePlan in stages.h): kShuffleAuto (one per
  /// partition when the spec names several nodes, else none), 0 (off: one
  /// combine over every partition's output) or a count.
  int32_t shuffle = kShuffleAuto;
  static constexpr int32_t kShuffleAuto = -1;
  /// Copies of every dataset a run puts on the nodes (checkpoints, shuffle
  /// buckets, reduce and combine outputs; not the sink, nor the stored spec
  /// read from its first node): each is written to the first `replicas`
  /// reachable nodes of its partition's placement ranking before the step
  /// succeeds, and a read whose node is gone or lost it finds a copy along
  /// the same ranking. 1: one copy on the first choice (a node that is down
  /// stalls the steps that need it until it is back).
  int32_t replicas = 1;
  /// A partition's chain and a reduce go first to the task queue of the
  /// workers beside the node holding their data (`flightdeck worker --node`,
  /// LocalTaskQueue in activities.h), and to the shared task_queue when none
  /// took the task within kLocalStartTimeout. Off by default: without
  /// workers beside the nodes every step would wait that long first.
  bool locality = false;
  int32_t parallelism = 2;
  bool durable = true;
  /// The same spec over the same input writes the same bytes, whatever
  /// retries, worker kills or node restarts happen: every stage query runs
  /// on one engine thread (partitions and activity slots still run in
  /// parallel), so group order and floating-point rounding depend only on
  /// the input. false: queries use all of their engine's threads (faster
  /// with fewer partitions than cores), and unsorted rows may come in
  /// another order and float sums differ in their last bits between runs.
  bool deterministic = true;
  RetrySpec retry;
  std::vector<std::string> nodes;
  /// Each node's capacity for placement (parallel to nodes; 1 when not
  /// given): `nodes: [LOC, {location: LOC, weight: 2}]`.
  std::vector<double> node_weights;
  std::string task_queue = "flightdeck";
  /// PipelineWorkflow continues as new after this many partitions finished
  /// in one run (keeping each run's history short).
  int32_t continue_as_new_after = 1000;
  /// How long a run's intermediate datasets stay on the nodes after it ends
  /// (committed, failed or canceled), for debugging; 0: dropped at once.
  int64_t retention_ms = 0;
  /// The lease of a run's intermediate datasets: they expire this long after
  /// the running workflow last renewed them (every third of it), so that
  /// the datasets of a run that vanished without its last step go away.
  int64_t dataset_lease_ms = 15 * 60 * 1000;
};

/// Parses and validates a spec. `origin` names the text in errors (usually
/// the file path). Errors are Invalid with "<origin>:<line>: <reason>".
arrow::Result<PipelineSpec> ParsePipelineSpec(std::string_view yaml, std::string_view origin);

/// Reads and parses a spec file; IOError when it cannot be read.
arrow::Result<PipelineSpec> ReadPipelineSpec(const std::string& path);

/// Names of the enum values as written in specs ("filter", "parquet", ...).
std::string_view KindName(SourceSpec::Kind kind);
std::string_view KindName(StageSpec::Kind kind);
/// Whether a stage of `kind` needs every partition's rows at once
/// (aggregate, sort, limit, distinct): it and the stages after it run in
/// the combine, over all partitions' outputs.
bool IsGlobalStage(StageSpec::Kind kind);
std::string_view KindName(SinkSpec::Kind kind);

}  // namespace flightdeck::pipeline
