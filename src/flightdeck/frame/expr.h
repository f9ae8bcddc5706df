// flightdeck/frame/expr.h: expressions, as SQL in DuckDB's dialect.
//
// One expression language everywhere: pipeline specs, frame-query plans,
// data-node exchanges and this C++ API all write SQL expressions the engine
// (DuckDB) parses and binds. The builders below compose such text with
// identifiers quoted and literals typed, so C++ code never splices strings:
//
//   using namespace flightdeck::frame;
//   Expr big = col("amount") * 0.92 > lit(100);
//   Expr cheap_books = col("category") == lit("books") && col("amount") < 10;
//   Expr text = Expr::Sql("amount * 0.92 > 100 and category in ('books', 'toys')");
//
// Columns are resolved only when a DataFrame binds the expression to its
// input, so an unknown column or a type mismatch is reported by the
// DataFrame operation that uses it, with the closest column names.
// Semantics are DuckDB's: `/` divides as doubles (`//` is integer
// division), integer overflow fails, logic is SQL's three-valued logic,
// comparisons with null are null. All functions here are pure and
// thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <arrow/status.h>
#include <arrow/type_fwd.h>

namespace flightdeck::frame {

namespace internal {
struct PlanNode;
}  // namespace internal

/// An immutable expression: SQL text, plus the sub-plans of the scalar
/// subqueries it holds (see Scalar in data_frame.h). Cheap to copy.
class Expr {
 public:
  /// The null literal.
  Expr();
  /// Numeric literal shorthands: `col("x") > 3` (int is INTEGER, int64_t
  /// BIGINT, double DOUBLE). Strings and booleans need lit(), so that a
  /// `const char*` is never mistaken for an expression.
  Expr(int value);      // NOLINT(runtime/explicit)
  Expr(int64_t value);  // NOLINT(runtime/explicit)
  Expr(double value);   // NOLINT(runtime/explicit)

  /// An expression written in SQL (DuckDB's dialect). The text must be one
  /// expression: quotes and parentheses balanced, no ';' and no comments;
  /// otherwise the Expr holds an Invalid status naming the position, which
  /// the DataFrame operation using it reports. Parsing and binding happen
  /// when a DataFrame uses it.
  static Expr Sql(std::string text);

  /// The SQL text, e.g. `("amount" * CAST(0.92 AS DOUBLE)) > 100`.
  const std::string& sql() const { return sql_; }
  std::string ToString() const { return sql_; }
  /// OK, or why the expression could not be built.
  const arrow::Status& status() const { return status_; }

  /// `x IS NULL` / `x IS NOT NULL`; never null themselves.
  Expr IsNull() const;
  Expr IsNotNull() const;
  /// `x IN (values...)` with SQL semantics: null when x is null, or when no
  /// value matches and one of the values is null.
  Expr IsIn(const std::vector<Expr>& values) const;
  /// `low <= x AND x <= high`.
  Expr Between(const Expr& low, const Expr& high) const;
  /// Cast to `type` (e.g. arrow::float64()), with DuckDB's semantics: floats
  /// to integers round half to even; failing casts (overflow, unparsable
  /// strings) fail the query. Types the engine cannot produce exactly
  /// (SqlCastTypeName in type_names.h) make an Expr holding Invalid.
  Expr Cast(const std::shared_ptr<arrow::DataType>& type) const;
  /// `x LIKE pattern` (% and _ wildcards).
  Expr Like(const std::string& pattern) const;

  /// Scalar sub-plans this expression holds, by placeholder name
  /// (internal to the frame layer).
  using Scalars = std::vector<std::pair<std::string, std::shared_ptr<const internal::PlanNode>>>;
  const Scalars& scalars() const { return scalars_; }
  /// An expression over the placeholder `$name` of a scalar sub-plan
  /// (internal: see Scalar in data_frame.h).
  static Expr Placeholder(std::string name, std::shared_ptr<const internal::PlanNode> plan,
                          arrow::Status status);

  /// `sql` whose `$name` placeholders stand for `scalars` (internal: see
  /// ParseExpression in data_frame.h).
  static Expr WithScalars(std::string sql, Scalars scalars);
  /// An expression that could not be built; every use reports `status`.
  static Expr Failed(arrow::Status status);

  /// Composes `format` (with "{0}", "{1}", ... standing for the operands'
  /// SQL) into a new expression carrying the operands' sub-plans and first
  /// error. Used by the builders; `format` must be valid SQL around them.
  static Expr Compose(const std::string& format, const std::vector<Expr>& operands);

 private:
  std::string sql_;
  arrow::Status status_;
  Scalars scalars_;
};

/// A reference to the column named `name` (any name: it is quoted).
Expr col(std::string name);
/// Literals, typed: `lit(100)` INTEGER, `lit(int64_t{1})` BIGINT, `lit(0.5)`
/// DOUBLE, `lit("x")` VARCHAR, `lit(true)` BOOLEAN.
Expr lit(int value);
Expr lit(int64_t value);
Expr lit(double value);
Expr lit(bool value);
Expr lit(const char* value);
Expr lit(std::string value);
/// A literal of any Arrow scalar (dates, timestamps, decimals, typed nulls).
Expr lit(const std::shared_ptr<arrow::Scalar>& value);
/// A call of the engine's function `function` (e.g. "upper", "year",
/// "coalesce", "substring"). The name must be an identifier; unknown
/// functions fail when the expression is bound.
Expr call(const std::string& function, const std::vector<Expr>& arguments);
/// `CASE WHEN conditions[i] THEN values[i] ... ELSE otherwise END`; a null
/// condition counts as false; without `otherwise` unmatched rows are null.
/// REQUIRES: conditions.size() == values.size() > 0.
Expr CaseWhen(const std::vector<Expr>& conditions, const std::vector<Expr>& values);
Expr CaseWhen(const std::vector<Expr>& conditions, const std::vector<Expr>& values,
              const Expr& otherwise);
/// Conjunction / disjunction of all `terms` (true / false when empty).
Expr AllOf(const std::vector<Expr>& terms);
Expr AnyOf(const std::vector<Expr>& terms);

Expr operator+(const Expr& a, const Expr& b);
Expr operator-(const Expr& a, const Expr& b);
Expr operator*(const Expr& a, const Expr& b);
Expr operator/(const Expr& a, const Expr& b);
Expr operator-(const Expr& a);
Expr operator==(const Expr& a, const Expr& b);
Expr operator!=(const Expr& a, const Expr& b);
Expr operator<(const Expr& a, const Expr& b);
Expr operator<=(const Expr& a, const Expr& b);
Expr operator>(const Expr& a, const Expr& b);
Expr operator>=(const Expr& a, const Expr& b);
/// SQL AND / OR / NOT (null AND false is false, null OR true is true).
Expr operator&&(const Expr& a, const Expr& b);
Expr operator||(const Expr& a, const Expr& b);
Expr operator!(const Expr& a);

}  // namespace flightdeck::frame
