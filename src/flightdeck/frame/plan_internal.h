// flightdeck/frame/plan_internal.h: the logical plan behind DataFrame and its
// lowering to one SQL statement. Internal to the frame layer.
//
// A plan is a tree of immutable PlanNodes. Each node knows its output schema,
// computed when it is made by binding the plan so far in the engine against
// empty inputs of the same schemas (no data is read), so errors surface at
// the operation that caused them.
//
// There are three kinds of nodes:
//  - a stream: Arrow batches from a table, a reader, a Flight stream or an
//    Arrow dataset, scanned in place by the engine (arrow_scan.h);
//  - a file scan the engine performs itself (read_parquet / read_csv, with
//    its projection and filter pushdown);
//  - a query: SQL text around its inputs' SQL, e.g.
//      SELECT * FROM <input 0> AS "fd_t" WHERE (amount > 10)
// Lowering nests the inputs' SQL as subqueries; DuckDB's optimizer flattens
// them, orders joins and pushes projections and filters into the scans.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include "flightdeck/frame/expr.h"

namespace flightdeck::frame {
class Engine;
}  // namespace flightdeck::frame

namespace flightdeck::frame::internal {

class Session;

enum class NodeKind { kStream, kFile, kQuery };

/// A piece of a node's SQL: literal text, or (input >= 0) the SQL of that
/// input as a parenthesized query.
struct SqlPart {
  std::string text;
  int input = -1;
};

struct PlanNode {
  NodeKind kind = NodeKind::kQuery;
  std::vector<std::shared_ptr<const PlanNode>> inputs;
  std::shared_ptr<arrow::Schema> schema;
  /// One line for Explain().
  std::string label;

  // kStream: opens the batches anew for each execution (or once: see
  // `consumed`).
  std::function<arrow::Result<std::shared_ptr<arrow::RecordBatchReader>>()> open;
  /// Set for one-shot streams (a reader, a Flight stream): true once an
  /// execution has claimed it.
  std::shared_ptr<std::atomic<bool>> consumed;
  /// The stream's row count when known (tables), else -1: the optimizer's
  /// estimate for join ordering.
  int64_t rows = -1;

  /// kFile: the table function call (read_parquet([...], ...)).
  /// kQuery: the statement, its text parts around its inputs.
  std::vector<SqlPart> sql;
  /// Scalar sub-plans whose `$name` placeholders the text parts hold.
  Expr::Scalars scalars;
  /// Whether the rows come in an order the frame promises to keep (see
  /// "Row order" in data_frame.h): sources and sorts, and what keeps its
  /// input's order; not joins, aggregates, distinct, unions or SQL.
  bool ordered = true;
  /// Whether the operation passes its one input's order on (filters,
  /// projections, limits), so that order matters below it only if it
  /// matters here; not aggregates, sorts, joins, distinct, unions or SQL.
  bool keeps_order = false;
  /// `sql` without what it does only to keep the input's order (numbering
  /// the rows around a scalar sub-plan), for where the order matters to no
  /// one above; empty when the two are the same.
  std::vector<SqlPart> unordered_sql;
  /// A join (lowering folds chains of them, see Flat).
  bool join = false;

  /// Joins and filters that lowering may fold, with the joins below them,
  /// into one flat FROM clause instead of nesting them as derived tables:
  /// DuckDB 1.5 orders joins only within one FROM clause. Set on inner,
  /// left and cross joins and on filters, without scalar sub-plans. Every
  /// column of a flat block has a name of its own (the join's right columns
  /// come renamed), so ON and WHERE texts need no qualification.
  struct Flat {
    enum class Kind { kNone, kJoin, kFilter };
    Kind kind = Kind::kNone;
    std::string join;          // "INNER", "LEFT" or "CROSS"
    std::string right_select;  // the right input's SELECT list, renaming its columns
    std::string on;            // the ON condition (empty for CROSS)
    std::string where;         // kFilter: the predicate
  };
  Flat flat;
};

using NodePtr = std::shared_ptr<const PlanNode>;

/// Builds SqlParts: strings are text, In(i) is input i.
struct In {
  int input;
};
template <typename... Parts>
std::vector<SqlPart> Sql(Parts&&... parts) {
  std::vector<SqlPart> out;
  auto add = [&](auto&& part) {
    if constexpr (std::is_same_v<std::decay_t<decltype(part)>, In>) {
      out.push_back(SqlPart{"", part.input});
    } else {
      out.push_back(SqlPart{std::string(part), -1});
    }
  };
  (add(std::forward<Parts>(parts)), ...);
  return out;
}

enum class LowerMode {
  /// The plan as it runs: streams opened and registered.
  kExecute,
  /// The whole plan over empty streams of the same schemas (EXPLAIN).
  kBindPlan,
  /// Only the root node, its inputs (and scalar sub-plans) standing in as
  /// empty streams of their schemas: binding one operation costs the same
  /// however long the plan below it is.
  kBindNode,
};

/// The one SQL statement computing `root`, with the streams it reads
/// registered in `session` as `mode` says.
arrow::Result<std::string> LowerToSql(const NodePtr& root, Session& session, LowerMode mode);

/// The engine that binds plans: a small process-wide database, with or
/// without external access (binding reads file metadata: read_csv sniffs
/// the file it names, so SQL bound for an engine without external access is
/// bound on one without it too).
arrow::Result<std::shared_ptr<Engine>> BindEngine(bool external_access);

/// The schema `node` produces (inputs and SQL set), found by binding it;
/// errors are prefixed with the operation `op`.
arrow::Result<std::shared_ptr<arrow::Schema>> BindSchema(const NodePtr& node, const std::string& op,
                                                         bool external_access);

/// Makes `node` complete: fills in its schema by binding it. Errors carry
/// the operation name `op`.
arrow::Result<NodePtr> Finish(std::shared_ptr<PlanNode> node, const std::string& op, bool external_access);

/// Runs the plan on `engine` (may be null when the root is a stream, which
/// passes through); its rows stream as produced.
arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> Execute(const NodePtr& root,
                                                                 const std::shared_ptr<Engine>& engine);

/// Runs `make_statement(sql of the plan)` on `engine` for its effect (COPY).
arrow::Status ExecuteStatement(const NodePtr& root, const std::shared_ptr<Engine>& engine,
                               const std::function<std::string(const std::string&)>& make_statement);

/// Explain() text: our plan as an indented tree, then the engine's plan.
arrow::Result<std::string> ExplainPlan(const NodePtr& root, bool external_access);

/// Fails with Invalid naming `op`, the unknown column, the closest names and
/// the columns there are, unless `schema` has a field named `name`.
arrow::Status CheckColumn(const arrow::Schema& schema, const std::string& name, const std::string& op);

/// Rewrites a bind error of `text` (an expression or query the user wrote,
/// placed at `offset` in `sql`) for the user: the operation, the text, a
/// caret under the position the engine's raw message `raw` pointed at, and
/// for an unknown column the closest names in `schema`.
arrow::Status ExplainBindError(const arrow::Status& error, const std::string& raw, const std::string& op,
                               const std::string& text, const std::string& sql, size_t offset,
                               const arrow::Schema* schema);

}  // namespace flightdeck::frame::internal
