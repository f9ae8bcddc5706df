#include "flightdeck/frame/expr.h"

#include <cctype>
#include <cstdio>

#include <arrow/scalar.h>
#include <arrow/type.h>

#include "flightdeck/frame/sql_text.h"
#include "flightdeck/frame/type_names.h"

namespace flightdeck::frame {

Expr::Expr() : sql_("NULL") {}
Expr::Expr(int value) : sql_(std::to_string(value)) {}
Expr::Expr(int64_t value) : sql_("CAST(" + std::to_string(value) + " AS BIGINT)") {}
Expr::Expr(double value) {
  auto literal = SqlLiteral(arrow::DoubleScalar(value));
  sql_ = literal.ok() ? *literal : "NULL";
}

Expr Expr::Sql(std::string text) {
  Expr out;
  out.status_ = CheckExpressionText(text, "expression");
  if (out.status_.ok()) {
    const auto names = PlaceholderNames(text);
    if (!names.empty()) {
      out.status_ = arrow::Status::Invalid("expression '", text, "' uses $", names[0],
                                           ", which names no scalar sub-plan");
    }
  }
  out.sql_ = std::move(text);
  return out;
}

Expr Expr::Placeholder(std::string name, std::shared_ptr<const internal::PlanNode> plan,
                       arrow::Status status) {
  Expr out;
  out.sql_ = "$" + name;
  out.status_ = std::move(status);
  out.scalars_.emplace_back(std::move(name), std::move(plan));
  return out;
}

Expr Expr::WithScalars(std::string sql, Scalars scalars) {
  Expr out;
  out.sql_ = std::move(sql);
  out.scalars_ = std::move(scalars);
  return out;
}

Expr Expr::Failed(arrow::Status status) {
  Expr out;
  out.status_ = std::move(status);
  return out;
}

Expr Expr::Compose(const std::string& format, const std::vector<Expr>& operands) {
  Expr out;
  out.sql_.clear();
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '{' && i + 2 < format.size() && std::isdigit(static_cast<unsigned char>(format[i + 1]))) {
      size_t end = i + 1;
      while (end < format.size() && std::isdigit(static_cast<unsigned char>(format[end]))) ++end;
      if (end < format.size() && format[end] == '}') {
        const size_t index = std::stoul(format.substr(i + 1, end - i - 1));
        if (index < operands.size()) {
          out.sql_ += "(" + operands[index].sql_ + ")";
          i = end;
          continue;
        }
      }
    }
    out.sql_ += format[i];
  }
  for (const auto& operand : operands) {
    if (out.status_.ok() && !operand.status_.ok()) out.status_ = operand.status_;
    out.scalars_.insert(out.scalars_.end(), operand.scalars_.begin(), operand.scalars_.end());
  }
  return out;
}

Expr Expr::IsNull() const { return Compose("{0} IS NULL", {*this}); }
Expr Expr::IsNotNull() const { return Compose("{0} IS NOT NULL", {*this}); }

Expr Expr::IsIn(const std::vector<Expr>& values) const {
  if (values.empty()) return Compose("CASE WHEN {0} IS NULL THEN NULL ELSE FALSE END", {*this});
  std::string format = "{0} IN (";
  std::vector<Expr> operands = {*this};
  for (size_t i = 0; i < values.size(); ++i) {
    format += (i ? ", {" : "{") + std::to_string(i + 1) + "}";
    operands.push_back(values[i]);
  }
  return Compose(format + ")", operands);
}

Expr Expr::Between(const Expr& low, const Expr& high) const {
  return Compose("{0} BETWEEN {1} AND {2}", {*this, low, high});
}

Expr Expr::Cast(const std::shared_ptr<arrow::DataType>& type) const {
  if (!type) return Failed(arrow::Status::Invalid("Cast: null type"));
  auto name = SqlCastTypeName(*type);
  if (!name.ok()) return Failed(name.status());
  return Compose("CAST({0} AS " + *name + ")", {*this});
}

Expr Expr::Like(const std::string& pattern) const { return Compose("{0} LIKE {1}", {*this, lit(pattern)}); }

Expr col(std::string name) { return Expr::Compose(QuoteIdentifier(name), {}); }

Expr lit(int value) { return Expr(value); }
Expr lit(int64_t value) { return Expr(value); }
Expr lit(double value) { return Expr(value); }
Expr lit(bool value) { return Expr::Compose(value ? "TRUE" : "FALSE", {}); }
Expr lit(const char* value) { return lit(std::string(value)); }
Expr lit(std::string value) { return Expr::Compose(QuoteString(value), {}); }

Expr lit(const std::shared_ptr<arrow::Scalar>& value) {
  if (!value) return Expr();
  auto literal = SqlLiteral(*value);
  if (!literal.ok()) return Expr::Failed(literal.status());
  return Expr::Compose(*literal, {});
}

Expr call(const std::string& function, const std::vector<Expr>& arguments) {
  bool identifier = !function.empty() && (std::isalpha(static_cast<unsigned char>(function[0])) ||
                                          function[0] == '_');
  for (char c : function) identifier = identifier && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  std::string format = function + "(";
  for (size_t i = 0; i < arguments.size(); ++i) format += (i ? ", {" : "{") + std::to_string(i) + "}";
  Expr out = Expr::Compose(format + ")", arguments);
  if (!identifier) {
    return Expr::Failed(arrow::Status::Invalid("call: '", function, "' is not a function name"));
  }
  return out;
}

namespace {
Expr CaseOf(const std::vector<Expr>& conditions, const std::vector<Expr>& values, const Expr* otherwise) {
  if (conditions.empty() || conditions.size() != values.size()) {
    return Expr::Failed(
        arrow::Status::Invalid("CaseWhen: need as many values as conditions, and at least one"));
  }
  std::string format = "CASE";
  std::vector<Expr> operands;
  for (size_t i = 0; i < conditions.size(); ++i) {
    format += " WHEN {" + std::to_string(operands.size()) + "}";
    operands.push_back(conditions[i]);
    format += " THEN {" + std::to_string(operands.size()) + "}";
    operands.push_back(values[i]);
  }
  if (otherwise) {
    format += " ELSE {" + std::to_string(operands.size()) + "}";
    operands.push_back(*otherwise);
  }
  return Expr::Compose(format + " END", operands);
}

Expr Fold(const std::vector<Expr>& terms, const char* op, const char* empty) {
  if (terms.empty()) return Expr::Compose(empty, {});
  std::string format = "{0}";
  for (size_t i = 1; i < terms.size(); ++i) format += std::string(" ") + op + " {" + std::to_string(i) + "}";
  return Expr::Compose(format, terms);
}
}  // namespace

Expr CaseWhen(const std::vector<Expr>& conditions, const std::vector<Expr>& values) {
  return CaseOf(conditions, values, nullptr);
}
Expr CaseWhen(const std::vector<Expr>& conditions, const std::vector<Expr>& values,
              const Expr& otherwise) {
  return CaseOf(conditions, values, &otherwise);
}

Expr AllOf(const std::vector<Expr>& terms) { return Fold(terms, "AND", "TRUE"); }
Expr AnyOf(const std::vector<Expr>& terms) { return Fold(terms, "OR", "FALSE"); }

Expr operator+(const Expr& a, const Expr& b) { return Expr::Compose("{0} + {1}", {a, b}); }
Expr operator-(const Expr& a, const Expr& b) { return Expr::Compose("{0} - {1}", {a, b}); }
Expr operator*(const Expr& a, const Expr& b) { return Expr::Compose("{0} * {1}", {a, b}); }
Expr operator/(const Expr& a, const Expr& b) { return Expr::Compose("{0} / {1}", {a, b}); }
Expr operator-(const Expr& a) { return Expr::Compose("- {0}", {a}); }
Expr operator==(const Expr& a, const Expr& b) { return Expr::Compose("{0} = {1}", {a, b}); }
Expr operator!=(const Expr& a, const Expr& b) { return Expr::Compose("{0} <> {1}", {a, b}); }
Expr operator<(const Expr& a, const Expr& b) { return Expr::Compose("{0} < {1}", {a, b}); }
Expr operator<=(const Expr& a, const Expr& b) { return Expr::Compose("{0} <= {1}", {a, b}); }
Expr operator>(const Expr& a, const Expr& b) { return Expr::Compose("{0} > {1}", {a, b}); }
Expr operator>=(const Expr& a, const Expr& b) { return Expr::Compose("{0} >= {1}", {a, b}); }
Expr operator&&(const Expr& a, const Expr& b) { return Expr::Compose("{0} AND {1}", {a, b}); }
Expr operator||(const Expr& a, const Expr& b) { return Expr::Compose("{0} OR {1}", {a, b}); }
Expr operator!(const Expr& a) { return Expr::Compose("NOT {0}", {a}); }

}  // namespace flightdeck::frame
