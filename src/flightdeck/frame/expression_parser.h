// flightdeck/frame/expression_parser.h: the expression language of pipeline
// specs, parsed into Arrow compute expressions.
//
// The language is a small SQL-like dialect, case-insensitive in keywords:
//
//   amount * 0.92 > 100 and category in ('books', 'games')
//   ts >= timestamp '2024-01-01 00:00:00Z' and not (note is null)
//   case when amount between 10 and 20 then 'mid' else 'other' end
//   cast(customer as double) / 3   or   customer::double / 3
//   utf8_upper(category) like 'BO%'   (any Arrow compute function by name)
//
// Precedence, loosest first: OR; AND; NOT; comparisons (= == != <> < <= > >=,
// IS [NOT] NULL, [NOT] IN (...), [NOT] BETWEEN a AND b, [NOT] LIKE 'pattern');
// + - and || (string concatenation); * and /; unary -; postfix ::type.
// Literals: integers (int64), decimals and exponents (double), 'strings'
// ('' escapes a quote), true, false, null, DATE 'YYYY-MM-DD' (date32),
// TIMESTAMP 'YYYY-MM-DD HH:MM:SS[.ffffff]' (timestamp[us]; a trailing Z or
// +HH:MM offset makes it timestamp[us, UTC]). Columns are bare identifiers or
// "double-quoted" names. Types for casts: bool, int8..int64 (tinyint,
// smallint, int, integer, bigint), uint8..uint64, float (real, float32),
// double (float64), string (utf8, varchar, text), large_string, binary, date
// (date32), date64, timestamp[(unit[, 'tz'])], decimal(p, s).
//
// Semantics are Arrow's kernels (see expr.h): Kleene logic, `/` of two
// integers truncates, casts of floats to integers truncate toward zero, CASE
// takes the first true condition, `x IN (...)` is null when x is null. There
// is no `%` (Arrow has no modulo kernel). Functions that need options other
// than their defaults (e.g. strptime) fail when bound.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include "flightdeck/frame/expr.h"

namespace flightdeck::frame {

/// Parses `text` into an expression. Pure and thread-safe.
///
/// Fails with Invalid naming the 1-based character position, what was
/// expected and what was found, e.g.
///   "expression 'a >' at position 4: expected an operand, found end of input".
/// Unknown functions, aggregate functions used as row functions and wrong
/// argument counts are reported the same way. Column names and types are not
/// checked here: binding to a schema (DataFrame operations) reports them.
arrow::Result<Expr> ParseExpression(std::string_view text);

/// A projection and/or filter, as the text of a node transform:
///   [SELECT] item, item, ... [WHERE predicate]    or    WHERE predicate
/// where an item is `*` (every input column) or `expression [AS name]`. An
/// item without AS is named after its column, or else after its text.
struct SelectSpec {
  struct Item {
    std::string name;           // "*" for every input column
    std::optional<Expr> value;  // empty for "*"
  };
  /// Empty: keep every input column.
  std::vector<Item> columns;
  /// Applied to the input rows, before the projection.
  std::optional<Expr> predicate;
};

/// Parses a SelectSpec. Fails with Invalid as ParseExpression does; the
/// text must hold at least a column list or a WHERE.
arrow::Result<SelectSpec> ParseSelect(std::string_view text);

/// Parses a type name as accepted after `::` or in CAST (see above).
/// Fails with Invalid naming the unknown type.
arrow::Result<std::shared_ptr<arrow::DataType>> ParseTypeName(std::string_view text);

}  // namespace flightdeck::frame
