#include "flightdeck/frame/expr.h"

#include <utility>

#include <arrow/compute/api_scalar.h>
#include <arrow/compute/cast.h>
#include <arrow/scalar.h>

namespace flightdeck::frame {

namespace cp = arrow::compute;

Expr::Expr() : expression_(cp::literal(arrow::MakeNullScalar(arrow::null()))) {}
Expr::Expr(cp::Expression expression) : expression_(std::move(expression)) {}
Expr::Expr(int value) : expression_(cp::literal(static_cast<int64_t>(value))) {}
Expr::Expr(int64_t value) : expression_(cp::literal(value)) {}
Expr::Expr(double value) : expression_(cp::literal(value)) {}

Expr Expr::IsNull() const { return cp::call("is_null", {expression_}); }
Expr Expr::IsNotNull() const { return cp::call("is_valid", {expression_}); }

Expr Expr::IsIn(const std::vector<Expr>& values) const {
  // A disjunction of equalities keeps SQL's null semantics and lets Acero
  // simplify against Parquet statistics.
  std::vector<Expr> terms;
  terms.reserve(values.size());
  for (const Expr& value : values) terms.push_back(*this == value);
  return AnyOf(terms);
}

Expr Expr::Between(const Expr& low, const Expr& high) const {
  return (*this >= low) && (*this <= high);
}

Expr Expr::Cast(std::shared_ptr<arrow::DataType> type) const {
  auto options = cp::CastOptions::Safe(std::move(type));
  options.allow_float_truncate = true;  // SQL-like: 9.5::int is 9
  return cp::call("cast", {expression_}, std::move(options));
}

Expr col(std::string name) { return cp::field_ref(std::move(name)); }
Expr lit(int value) { return Expr(value); }
Expr lit(int64_t value) { return Expr(value); }
Expr lit(double value) { return Expr(value); }
Expr lit(bool value) { return Expr(cp::literal(value)); }
Expr lit(const char* value) { return Expr(cp::literal(std::string(value))); }
Expr lit(std::string value) { return Expr(cp::literal(std::move(value))); }
Expr lit(std::shared_ptr<arrow::Scalar> value) { return cp::literal(std::move(value)); }

Expr call(std::string function, std::vector<Expr> arguments,
          std::shared_ptr<cp::FunctionOptions> options) {
  std::vector<cp::Expression> args;
  args.reserve(arguments.size());
  for (Expr& argument : arguments) args.push_back(argument.expression());
  return cp::call(std::move(function), std::move(args), std::move(options));
}

Expr CaseWhen(const std::vector<Expr>& conditions, const std::vector<Expr>& values,
              const Expr& otherwise) {
  std::vector<cp::Expression> conds;
  std::vector<std::string> names;
  for (size_t i = 0; i < conditions.size(); ++i) {
    conds.push_back(conditions[i].expression());
    names.push_back("c" + std::to_string(i));
  }
  std::vector<cp::Expression> args;
  args.push_back(cp::call("make_struct", std::move(conds), cp::MakeStructOptions(names)));
  for (const Expr& value : values) args.push_back(value.expression());
  args.push_back(otherwise.expression());
  return cp::call("case_when", std::move(args));
}

Expr AllOf(const std::vector<Expr>& terms) {
  if (terms.empty()) return lit(true);
  Expr out = terms[0];
  for (size_t i = 1; i < terms.size(); ++i) out = out && terms[i];
  return out;
}

Expr AnyOf(const std::vector<Expr>& terms) {
  if (terms.empty()) return lit(false);
  Expr out = terms[0];
  for (size_t i = 1; i < terms.size(); ++i) out = out || terms[i];
  return out;
}

namespace {
Expr Binary(const char* function, const Expr& a, const Expr& b) {
  return cp::call(function, {a.expression(), b.expression()});
}
}  // namespace

Expr operator+(const Expr& a, const Expr& b) { return Binary("add", a, b); }
Expr operator-(const Expr& a, const Expr& b) { return Binary("subtract", a, b); }
Expr operator*(const Expr& a, const Expr& b) { return Binary("multiply", a, b); }
Expr operator/(const Expr& a, const Expr& b) { return Binary("divide", a, b); }
Expr operator-(const Expr& a) { return cp::call("negate", {a.expression()}); }
Expr operator==(const Expr& a, const Expr& b) { return Binary("equal", a, b); }
Expr operator!=(const Expr& a, const Expr& b) { return Binary("not_equal", a, b); }
Expr operator<(const Expr& a, const Expr& b) { return Binary("less", a, b); }
Expr operator<=(const Expr& a, const Expr& b) { return Binary("less_equal", a, b); }
Expr operator>(const Expr& a, const Expr& b) { return Binary("greater", a, b); }
Expr operator>=(const Expr& a, const Expr& b) { return Binary("greater_equal", a, b); }
Expr operator&&(const Expr& a, const Expr& b) { return Binary("and_kleene", a, b); }
Expr operator||(const Expr& a, const Expr& b) { return Binary("or_kleene", a, b); }
Expr operator!(const Expr& a) { return cp::call("invert", {a.expression()}); }

}  // namespace flightdeck::frame
