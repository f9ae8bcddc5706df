// flightdeck/frame/data_frame.h: a lazy, immutable DataFrame executed by an
// embedded DuckDB (engine.h).
//
// Every operation returns a new DataFrame describing a larger plan; nothing
// runs until a sink (Collect, Stream, Write*, PutToFlight) is called. A plan
// lowers to one SQL statement (identifiers quoted, literals typed) that the
// engine optimizes as a whole: join order, projection and filter pushdown
// into Parquet and CSV scans (which the engine reads itself), spilling of
// joins, aggregates and sorts beyond its memory limit. Arrow data crosses
// both ways through the C data interface: tables, readers and Flight streams
// are scanned in place, results come back as record batches.
//
//   using namespace flightdeck::frame;
//   ARROW_ASSIGN_OR_RAISE(auto orders, DataFrame::Read("/data/orders", FileFormat::kParquet));
//   auto top = orders.Filter("amount * 0.92 > 100 and category is not null")
//                  .GroupBy({"category"})
//                  .Agg({Sum("amount", "total"), CountAll("orders")})
//                  .Sort({Desc("total")})
//                  .Limit(10);
//   ARROW_ASSIGN_OR_RAISE(auto table, top.Collect());
//
// Expressions are SQL in DuckDB's dialect (expr.h), written as text or built
// with the C++ builders; a sub-plan can stand wherever a frame is accepted
// (join right sides, union inputs, DataFrame::Sql inputs) and, through
// Scalar(), inside an expression.
//
// Errors. Operations bind against their input at once, without reading data
// (unknown column, with the closest names; type mismatch; malformed
// expression; unknown function), but do not return Result, so that calls
// chain. A failed operation yields a DataFrame holding that error; later
// operations keep the first error and every sink returns it. `status()`
// reports it early. Execution errors (a failing cast, an unreadable file, a
// query that cannot finish within the engine's memory limit) are returned by
// the sink.
//
// Row order. Sources are ordered: a table in its row order, a reader or a
// Flight stream in arrival order, a file in row order and a directory file
// by file in path order. Select, Project, Filter, WithColumn, Rename, Drop,
// Cast and Limit keep their input's order (unless an expression holds a
// window function, OVER (...), which may reorder rows); Sort imposes one.
// GroupBy/Agg, Join, Distinct, Union and Sql produce unordered frames. Collect, Stream, WriteFile and
// PutToFlight yield an ordered frame's rows in that order, however many
// threads ran the plan (WriteDataset's partitioned files promise no order).
//
// Types. Results carry the engine's types (DuckDB's Arrow export): strings
// as utf8, decimals as decimal128, timestamps with a zone in UTC, and every
// computed column nullable; a sink of an unmodified source passes its
// batches through untouched.
//
// Thread safety: a DataFrame is immutable and may be shared between threads;
// sinks may run concurrently on the same DataFrame, except that a DataFrame
// built on a RecordBatchReader or a Flight stream can be executed only once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/dataset/type_fwd.h>
#include <arrow/flight/type_fwd.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>
#include <arrow/table.h>
#include <arrow/type_fwd.h>

#include "flightdeck/flight/node_client.h"
#include "flightdeck/frame/engine.h"
#include "flightdeck/frame/expr.h"

namespace flightdeck::frame {

namespace internal {
struct PlanNode;
}  // namespace internal

/// File formats for sources and sinks.
enum class FileFormat { kParquet, kIpc, kCsv };

/// Parses "parquet", "ipc" / "arrow" / "feather", "csv"; Invalid otherwise.
arrow::Result<FileFormat> ParseFileFormat(std::string_view name);

/// Join types, with SQL meaning. kSemi / kAnti keep only the left columns;
/// kCross pairs every row with every row (no keys).
enum class JoinKind { kInner, kLeft, kRight, kFull, kSemi, kAnti, kCross };

/// Parses "inner", "left", "right", "full" ("outer"), "semi", "anti", "cross".
arrow::Result<JoinKind> ParseJoinKind(std::string_view name);

/// One aggregate of GroupBy().Agg() or DataFrame::Agg(). Build with the
/// functions below rather than by hand.
struct Aggregation {
  /// One of: sum, mean, min, max, count, count_all, count_distinct, stddev,
  /// variance, first, last; or any other aggregate function of the engine
  /// taking one column (e.g. median, approx_count_distinct, bool_and).
  std::string function;
  /// The input column (empty for count_all).
  std::string column;
  /// The output column; defaults to "<function>_<column>".
  std::string name;
};

/// Nulls are skipped by every aggregate; an all-null group gives null (count
/// functions give 0). stddev and variance are the sample statistics (n - 1).
/// count counts non-null values, count_all counts rows. sum of integers is
/// int64 (uint64 for unsigned inputs; overflow fails), of decimals a
/// decimal(38, s), of floats a double; mean is a double. first / last take
/// the first / last non-null value in input order.
Aggregation Sum(std::string column, std::string name = "");
Aggregation Mean(std::string column, std::string name = "");
Aggregation Min(std::string column, std::string name = "");
Aggregation Max(std::string column, std::string name = "");
Aggregation Count(std::string column, std::string name = "");
Aggregation CountAll(std::string name = "count");
Aggregation CountDistinct(std::string column, std::string name = "");
Aggregation Stddev(std::string column, std::string name = "");
Aggregation Variance(std::string column, std::string name = "");
/// The aggregation written as text, as pipeline specs and frame-query plans
/// write it: "function(column)" (e.g. "sum(amount)"), or "count(*)" /
/// "count()" for count_all; its output column is `name`. Invalid naming
/// `name` when the text is not of that form or only count goes without a
/// column. The function is checked when the plan binds (Agg).
arrow::Result<Aggregation> ParseAggregation(std::string name, const std::string& text);
Aggregation First(std::string column, std::string name = "");
Aggregation Last(std::string column, std::string name = "");

/// One sort key. Nulls go last unless `nulls_first`.
struct SortKey {
  std::string column;
  bool descending = false;
  bool nulls_first = false;
};
SortKey Asc(std::string column, bool nulls_first = false);
SortKey Desc(std::string column, bool nulls_first = false);

/// Options of DataFrame::WriteDataset.
struct WriteDatasetOptions {
  FileFormat format = FileFormat::kParquet;
  /// Columns whose values name subdirectories (hive style: key=value/). They
  /// are not stored inside the files.
  std::vector<std::string> partition_by;
  /// Upper bound of rows per file (0: no bound).
  int64_t max_rows_per_file = 0;
};

/// Options of DataFrame::Join beyond keys.
struct JoinOptions {
  JoinKind kind = JoinKind::kInner;
  /// Appended to right column names that collide with left ones.
  std::string right_suffix = "_right";
  /// An extra join condition (SQL) over the left columns and the right ones
  /// by their output names (suffixed where they collided), e.g.
  /// "l_suppkey <> l_suppkey_right". Rows pair only when the keys match and
  /// it is true.
  std::optional<Expr> condition;
};

/// What a Flight server answered to a DoPut.
using FlightPutResult = flight::PutStreamResult;

class GroupedFrame;

/// A lazy, immutable query plan. Cheap to copy. See the file comment for the
/// error and threading contract.
/// Called with the location and the bytes of every record batch a
/// FromFlight frame reads (Arrow's buffer sizes), from the reading thread;
/// for transfer metrics (local or remote bytes). Null: none. Process-wide;
/// set it before frames read.
void SetFlightReadObserver(std::function<void(const std::string& location, int64_t bytes)> observer);

class DataFrame {
 public:
  // --- sources --------------------------------------------------------------

  /// A frame over an in-memory table (the table is shared, not copied).
  static DataFrame FromTable(std::shared_ptr<arrow::Table> table);
  /// A frame that streams `reader`. Single use: executing it consumes the
  /// reader; a second execution fails with Invalid.
  static DataFrame FromReader(std::shared_ptr<arrow::RecordBatchReader> reader);
  /// A frame scanning an Arrow dataset (projection and filter pushdown).
  static DataFrame FromDataset(std::shared_ptr<arrow::dataset::Dataset> dataset);
  /// A frame over one file or a directory tree of files (local path or URI
  /// such as file:///x; names starting with '.' or '_' are skipped).
  /// Hive-style key=value directories become columns. Parquet and CSV (with
  /// a header row, types detected) are read by the engine, only the columns
  /// and row groups the plan needs; Arrow IPC files are memory-mapped and
  /// scanned in place. Fails with IOError / Invalid when the path is missing
  /// or unreadable.
  static arrow::Result<DataFrame> Read(const std::string& path, FileFormat format);
  /// The rows of one file from its metadata, without reading its data: a
  /// Parquet footer, an IPC file's record batch headers; -1 for CSV (not
  /// known without reading it). IOError / Invalid when the file is missing
  /// or not of `format`.
  static arrow::Result<int64_t> FileRows(const std::string& path, FileFormat format);
  /// A frame with `schema` and no rows: binds a plan without data (the
  /// pipeline checks a spec this way before it runs).
  static DataFrame FromSchema(std::shared_ptr<arrow::Schema> schema);
  /// A frame computed by `query`, one SQL SELECT in DuckDB's dialect, that
  /// reads `inputs` by name as tables, e.g.
  ///   DataFrame::Sql("select c, sum(x) as s from t group by c", {{"t", frame}})
  /// A trailing ';' is allowed, more statements are not; the query may
  /// start with its own WITH clause. An input the query names twice is
  /// computed twice, not held in memory, unless it reads an Arrow stream
  /// (a table, a reader, Flight, IPC files), which the engine reads once.
  static DataFrame Sql(const std::string& query, const std::map<std::string, DataFrame>& inputs);
  /// A frame streaming DoGet(`ticket`) from the Flight server at `location`
  /// (e.g. "grpc://127.0.0.1:4000"), over the process's one connection to
  /// it (flight::NodeClient), as `who` (a flightdeck data node's tenant).
  /// Reads the schema now; the batches stream when a sink runs. Single use,
  /// like FromReader. A ticket the server does not know (NOT_FOUND) is a
  /// KeyError with flight::DatasetLostDetail.
  static arrow::Result<DataFrame> FromFlight(const std::string& location, std::string ticket,
                                             const flight::CallIdentity& who = {});

  // --- transformations (lazy; see the file comment for errors) ---------------

  /// Keeps `columns`, in that order.
  DataFrame Select(const std::vector<std::string>& columns) const;
  /// Computes one output column per (name, expression) pair, in that order
  /// (SQL's SELECT list; Select keeps plain columns).
  DataFrame Project(const std::vector<std::pair<std::string, Expr>>& columns) const;
  /// Keeps the rows where `predicate` is true (null counts as false).
  DataFrame Filter(const Expr& predicate) const;
  /// Filter with a predicate written in SQL (Expr::Sql).
  DataFrame Filter(std::string_view predicate) const;
  /// Adds column `name` = `value`, or replaces it in place if it exists.
  DataFrame WithColumn(const std::string& name, const Expr& value) const;
  DataFrame WithColumn(const std::string& name, std::string_view expression) const;
  /// Renames columns: each pair is (old name, new name).
  DataFrame Rename(const std::vector<std::pair<std::string, std::string>>& renames) const;
  /// Removes `columns`; every one must exist.
  DataFrame Drop(const std::vector<std::string>& columns) const;
  /// Casts `column` to `type` (overflow and unparsable values fail at
  /// execution).
  DataFrame Cast(const std::string& column, std::shared_ptr<arrow::DataType> type) const;
  /// Groups by `keys`; finish with Agg(). Output: keys, then aggregates.
  GroupedFrame GroupBy(std::vector<std::string> keys) const;
  /// Aggregates the whole frame into one row.
  DataFrame Agg(const std::vector<Aggregation>& aggregations) const;
  /// Join on left_keys[i] == right_keys[i] (nulls never match). Output:
  /// left columns, then right columns (not for kSemi / kAnti); right columns
  /// whose names collide with a left column get `right_suffix`. kCross takes
  /// no keys; the other kinds need keys or, through JoinOptions, a condition.
  DataFrame Join(const DataFrame& right, const std::vector<std::string>& left_keys,
                 const std::vector<std::string>& right_keys, JoinKind kind = JoinKind::kInner,
                 const std::string& right_suffix = "_right") const;
  DataFrame Join(const DataFrame& right, const std::vector<std::string>& left_keys,
                 const std::vector<std::string>& right_keys, const JoinOptions& options) const;
  /// Sorts by `keys`. Rows with equal keys come in no promised order; add a
  /// unique column as the last key for a total order.
  DataFrame Sort(const std::vector<SortKey>& keys) const;
  /// Skips `offset` rows, then keeps at most `count` (fewer if the input has
  /// fewer). Which rows, by the frame's order (see "Row order" below):
  ///  - over an ordered frame, the rows at positions [offset, offset+count)
  ///    of that order, the same rows every run, whatever the thread timing.
  ///    E.g. `Read(file).Filter(p).Limit(10)` is the first ten matching rows
  ///    of the file; `Sort(k).Limit(10)` the first ten in sort order.
  ///  - over an unordered frame (after GroupBy/Agg, Join, Distinct or
  ///    Union), `count` rows (or all there are) that the input happens to
  ///    produce first; which ones may differ between runs, as with SQL's
  ///    LIMIT without ORDER BY. Sort first to choose.
  /// The input stops being read once the limit is reached where the plan
  /// allows.
  DataFrame Limit(int64_t count, int64_t offset = 0) const;
  /// Removes duplicate rows (nulls compare equal). Row order is not kept.
  DataFrame Distinct() const;
  /// All rows of this frame and `other` (UNION ALL); column names and types
  /// must be equal. Rows interleave in no set order.
  DataFrame Union(const DataFrame& other) const;

  // --- execution ---------------------------------------------------------------

  /// This plan, run on `engine` instead of Engine::Default() (the same plan
  /// otherwise). Operations that follow keep the engine.
  DataFrame WithEngine(std::shared_ptr<Engine> engine) const;
  /// The engine the sinks run on (null: the thread's ScopedEngine, else
  /// Engine::Default()).
  const std::shared_ptr<Engine>& engine() const { return engine_; }

  // --- inspection -----------------------------------------------------------

  /// OK, or the first error of the operations that built this frame.
  const arrow::Status& status() const { return status_; }
  bool ok() const { return status_.ok(); }
  /// The output schema; the frame's error if it has one.
  arrow::Result<std::shared_ptr<arrow::Schema>> schema() const;
  /// The plan as an indented tree, root first, e.g.
  ///   Limit 10
  ///     Sort total DESC NULLS LAST
  ///       Aggregate keys=[category] sum(amount) AS total
  ///         Scan parquet /data/orders
  /// then the engine's physical plan for it (over empty inputs), which shows
  /// the join order and the pushdowns.
  arrow::Result<std::string> Explain() const;
  /// The SQL statement the plan lowers to (for reading: its stream scans,
  /// fd_arrow_scan(<id>), name streams of an empty bind-time session).
  arrow::Result<std::string> ToSql() const;

  // --- sinks (each executes the plan) -----------------------------------------

  /// Runs the plan and gathers the result.
  arrow::Result<std::shared_ptr<arrow::Table>> Collect() const;
  /// Runs the plan, yielding batches as they are produced. The plan stops
  /// when the reader is closed or destroyed.
  arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> Stream() const;
  /// Streams the result into one file at `path` (written to a temporary
  /// name, renamed on success: a failure leaves no file behind). Parquet and
  /// CSV (with a header) are written by the engine, IPC by Arrow.
  arrow::Status WriteFile(const std::string& path, FileFormat format) const;
  /// Writes a directory of files, partitioned by options.partition_by. Fails
  /// with AlreadyExists when `directory` exists; on failure nothing is left.
  arrow::Status WriteDataset(const std::string& directory,
                             const WriteDatasetOptions& options) const;
  /// DoPut of the result to the Flight server at `location` under the path
  /// descriptor `path` (split on '/'), calling as `who`;
  /// returns what the server answered.
  /// The first batch is computed before the call opens, so a plan that fails
  /// at once uploads nothing. A failure after some batches were sent
  /// abandons the put (flight::PutAbortMetadata): a data node keeps nothing;
  /// Flight has no DoPut abort of its own, so another server that keeps
  /// whatever arrived before the end of the stream may keep a prefix.
  arrow::Result<FlightPutResult> PutToFlight(const std::string& location,
                                             const std::string& path,
                                             const flight::CallIdentity& who = {}) const;
  /// The same under any descriptor (e.g. a command descriptor a server
  /// reads options from).
  arrow::Result<FlightPutResult> PutToFlight(const std::string& location,
                                             const arrow::flight::FlightDescriptor& descriptor,
                                             const flight::CallIdentity& who = {}) const;

  /// The plan node (internal use by the frame layer).
  const std::shared_ptr<const internal::PlanNode>& node() const { return node_; }

 private:
  friend class GroupedFrame;
  friend Expr Scalar(const DataFrame& plan);
  DataFrame(std::shared_ptr<const internal::PlanNode> node, arrow::Status status);
  static DataFrame Failed(arrow::Status status);
  DataFrame Failing(arrow::Status status) const;
  DataFrame Then(arrow::Result<std::shared_ptr<const internal::PlanNode>> next) const;
  arrow::Result<std::shared_ptr<Engine>> ExecutionEngine() const;
  // Whether the engine this plan runs on may touch files (binding follows it).
  bool ExternalAccess() const;

  std::shared_ptr<const internal::PlanNode> node_;
  arrow::Status status_;
  std::shared_ptr<Engine> engine_;
};

/// The single value of `plan` (one column; more than one row fails at
/// execution, no row gives null) as an expression: a scalar subquery, e.g.
///   orders.Filter(col("amount") > Scalar(orders.Agg({Mean("amount", "m")})))
Expr Scalar(const DataFrame& plan);

/// Parses `text`, an expression in DuckDB's SQL dialect whose `$name`
/// placeholders stand for the scalar sub-plans `scalars` (e.g.
/// "c_acctbal > $average"). Checks only that the text is one expression and
/// every placeholder has a sub-plan (Invalid naming the position otherwise);
/// binding happens where it is used.
arrow::Result<Expr> ParseExpression(std::string_view text,
                                    const std::map<std::string, DataFrame>& scalars = {});

/// The result of DataFrame::GroupBy; only Agg() may follow.
class GroupedFrame {
 public:
  /// One row per distinct key tuple (null keys form their own group):
  /// the keys, then one column per aggregation. Row order is not kept.
  DataFrame Agg(const std::vector<Aggregation>& aggregations) const;

 private:
  friend class DataFrame;
  GroupedFrame(DataFrame frame, std::vector<std::string> keys)
      : frame_(std::move(frame)), keys_(std::move(keys)) {}
  DataFrame frame_;
  std::vector<std::string> keys_;
};

}  // namespace flightdeck::frame
