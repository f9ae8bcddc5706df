// flightdeck/frame/expr.h: C++ builders for Arrow compute expressions.
//
// Expr wraps arrow::compute::Expression so that ordinary C++ operators build
// expression trees that Acero evaluates column by column:
//
//   using namespace flightdeck::frame;
//   Expr big = col("amount") * 0.92 > lit(100);
//   Expr cheap_books = col("category") == lit("books") && col("amount") < 10;
//
// Columns are referenced by name and resolved only when a DataFrame binds the
// expression to its schema, so an unknown column or a type mismatch is
// reported by the DataFrame operation that uses it. Arithmetic follows Arrow's
// kernels ("add", "subtract", "multiply", "divide"): integer division of two
// integers truncates; overflow wraps. Logic is Kleene (SQL) three-valued.
// All functions here are pure and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/compute/expression.h>
#include <arrow/type_fwd.h>

namespace flightdeck::frame {

/// An immutable expression; a thin value wrapper over arrow::compute::Expression.
/// Cheap to copy (shares the tree).
class Expr {
 public:
  /// A null literal of type null.
  Expr();
  /// Wraps an existing Arrow expression (implicit, so Arrow expressions can be
  /// passed wherever an Expr is expected).
  Expr(arrow::compute::Expression expression);  // NOLINT(runtime/explicit)
  /// Numeric literal shorthands: `col("x") > 3`. Strings and booleans need
  /// lit() so that a `const char*` argument is never mistaken for an Expr
  /// (DataFrame overloads take expression text as strings).
  Expr(int value);      // NOLINT(runtime/explicit)
  Expr(int64_t value);  // NOLINT(runtime/explicit)
  Expr(double value);   // NOLINT(runtime/explicit)

  const arrow::compute::Expression& expression() const { return expression_; }
  operator const arrow::compute::Expression&() const { return expression_; }  // NOLINT
  /// Arrow's rendering, e.g. `(multiply(amount, 0.92) > 100)`.
  std::string ToString() const { return expression_.ToString(); }

  /// `x IS NULL` / `x IS NOT NULL`; never null themselves.
  Expr IsNull() const;
  Expr IsNotNull() const;
  /// `x IN (values...)` with SQL semantics: null when x is null, or when no
  /// value matches and one of the values is null.
  Expr IsIn(const std::vector<Expr>& values) const;
  /// `low <= x AND x <= high`.
  Expr Between(const Expr& low, const Expr& high) const;
  /// Cast to `type`. Floats cast to integers truncate toward zero; integer
  /// overflow and unparsable strings fail at execution.
  Expr Cast(std::shared_ptr<arrow::DataType> type) const;

 private:
  arrow::compute::Expression expression_;
};

/// A reference to the column named `name`.
Expr col(std::string name);
/// A literal; `lit(100)` is int64, `lit(0.5)` double, `lit("x")` utf8.
Expr lit(int value);
Expr lit(int64_t value);
Expr lit(double value);
Expr lit(bool value);
Expr lit(const char* value);
Expr lit(std::string value);
/// A literal of any Arrow scalar (dates, timestamps, decimals, typed nulls).
Expr lit(std::shared_ptr<arrow::Scalar> value);
/// A call to the Arrow compute function `function` (any registered name,
/// e.g. "utf8_upper", "year", "coalesce") with default options unless given.
/// Unknown names fail when the expression is bound, not here.
Expr call(std::string function, std::vector<Expr> arguments,
          std::shared_ptr<arrow::compute::FunctionOptions> options = nullptr);
/// `CASE WHEN conditions[i] THEN values[i] ... ELSE otherwise END`; a null
/// condition counts as false. REQUIRES: conditions.size() == values.size() > 0.
Expr CaseWhen(const std::vector<Expr>& conditions, const std::vector<Expr>& values,
              const Expr& otherwise = Expr());
/// Conjunction / disjunction of all `terms` (literal true / false when empty).
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
/// Kleene AND / OR / NOT (null AND false is false, null OR true is true).
Expr operator&&(const Expr& a, const Expr& b);
Expr operator||(const Expr& a, const Expr& b);
Expr operator!(const Expr& a);

}  // namespace flightdeck::frame
