#include "flightdeck/frame/expression_parser.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <charconv>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <arrow/compute/api_scalar.h>
#include <arrow/compute/function.h>
#include <arrow/compute/registry.h>
#include <arrow/scalar.h>
#include <arrow/type.h>
#include <arrow/util/value_parsing.h>

#include "flightdeck/frame/plan_internal.h"

namespace flightdeck::frame {

namespace cp = arrow::compute;

namespace {

enum class TokenKind { kIdentifier, kQuotedIdentifier, kInteger, kDecimal, kString, kSymbol, kEnd };

struct Token {
  TokenKind kind;
  std::string text;  // identifier / symbol / literal text (unescaped)
  size_t position;   // 0-based offset of the first character
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::kEnd:
      return "end of input";
    case TokenKind::kString:
      return "string '" + token.text + "'";
    case TokenKind::kQuotedIdentifier:
      return "\"" + token.text + "\"";
    default:
      return "'" + token.text + "'";
  }
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  arrow::Result<Expr> ParseAll() {
    ARROW_RETURN_NOT_OK(Tokenize());
    ARROW_ASSIGN_OR_RAISE(Expr out, ParseOr());
    if (Peek().kind != TokenKind::kEnd) return Expected("an operator or end of input");
    return out;
  }

  arrow::Result<SelectSpec> ParseSelectAll() {
    ARROW_RETURN_NOT_OK(Tokenize());
    SelectSpec spec;
    AcceptKeyword("select");
    if (!IsKeyword("where") && Peek().kind != TokenKind::kEnd) {
      do {
        if (AcceptSymbol("*")) {
          spec.columns.push_back(SelectSpec::Item{"*", std::nullopt});
          continue;
        }
        const size_t start = Peek().position;
        ARROW_ASSIGN_OR_RAISE(Expr value, ParseOr());
        std::string name;
        if (AcceptKeyword("as")) {
          const Token& alias = Peek();
          if (alias.kind != TokenKind::kIdentifier && alias.kind != TokenKind::kQuotedIdentifier) {
            return Expected("a column name after AS");
          }
          name = Take().text;
        } else if (const auto* ref = value.expression().field_ref(); ref && ref->name()) {
          name = *ref->name();
        } else {
          size_t end = Peek().position;
          name = std::string(text_.substr(start, end - start));
          while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) name.pop_back();
        }
        spec.columns.push_back(SelectSpec::Item{std::move(name), std::move(value)});
      } while (AcceptSymbol(","));
    }
    if (AcceptKeyword("where")) {
      ARROW_ASSIGN_OR_RAISE(Expr predicate, ParseOr());
      spec.predicate = std::move(predicate);
    }
    if (Peek().kind != TokenKind::kEnd) return Expected("',', WHERE or end of input");
    if (spec.columns.empty() && !spec.predicate) return Expected("a column list or WHERE");
    return spec;
  }

  arrow::Result<std::shared_ptr<arrow::DataType>> ParseTypeOnly() {
    ARROW_RETURN_NOT_OK(Tokenize());
    ARROW_ASSIGN_OR_RAISE(auto type, ParseType());
    if (Peek().kind != TokenKind::kEnd) return Expected("end of the type name");
    return type;
  }

 private:
  // --- errors -------------------------------------------------------------
  arrow::Status ErrorAt(size_t position, const std::string& message) const {
    return arrow::Status::Invalid("expression '", text_, "' at position ", position + 1, ": ",
                                  message);
  }
  arrow::Status Expected(const std::string& what) const {
    return ErrorAt(Peek().position, "expected " + what + ", found " + Describe(Peek()));
  }

  // --- tokens ---------------------------------------------------------------
  arrow::Status Tokenize() {
    size_t i = 0;
    const size_t n = text_.size();
    while (i < n) {
      const char c = text_[i];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t start = i;
        while (i < n && (std::isalnum(static_cast<unsigned char>(text_[i])) || text_[i] == '_')) ++i;
        tokens_.push_back({TokenKind::kIdentifier, std::string(text_.substr(start, i - start)), start});
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(text_[i + 1])))) {
        size_t start = i;
        bool decimal = false;
        while (i < n && std::isdigit(static_cast<unsigned char>(text_[i]))) ++i;
        if (i < n && text_[i] == '.') {
          decimal = true;
          ++i;
          while (i < n && std::isdigit(static_cast<unsigned char>(text_[i]))) ++i;
        }
        if (i < n && (text_[i] == 'e' || text_[i] == 'E')) {
          size_t j = i + 1;
          if (j < n && (text_[j] == '+' || text_[j] == '-')) ++j;
          if (j < n && std::isdigit(static_cast<unsigned char>(text_[j]))) {
            decimal = true;
            i = j;
            while (i < n && std::isdigit(static_cast<unsigned char>(text_[i]))) ++i;
          }
        }
        tokens_.push_back({decimal ? TokenKind::kDecimal : TokenKind::kInteger,
                           std::string(text_.substr(start, i - start)), start});
      } else if (c == '\'' || c == '"') {
        size_t start = i++;
        std::string value;
        bool closed = false;
        while (i < n) {
          if (text_[i] == c) {
            if (i + 1 < n && text_[i + 1] == c) {
              value += c;
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          value += text_[i++];
        }
        if (!closed) {
          return ErrorAt(start, std::string("unterminated ") +
                                    (c == '\'' ? "string literal" : "quoted identifier"));
        }
        tokens_.push_back(
            {c == '\'' ? TokenKind::kString : TokenKind::kQuotedIdentifier, std::move(value), start});
      } else {
        static const char* kTwo[] = {"<=", ">=", "<>", "!=", "==", "::", "||"};
        std::string symbol;
        for (const char* two : kTwo) {
          if (text_.substr(i, 2) == two) symbol = two;
        }
        if (symbol.empty()) {
          if (std::string_view("+-*/%()<>=,[]").find(c) == std::string_view::npos) {
            return ErrorAt(i, std::string("unexpected character '") + c + "'");
          }
          symbol = std::string(1, c);
        }
        tokens_.push_back({TokenKind::kSymbol, symbol, i});
        i += symbol.size();
      }
    }
    tokens_.push_back({TokenKind::kEnd, "", n});
    return arrow::Status::OK();
  }

  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(next_ + ahead, tokens_.size() - 1)];
  }
  Token Take() {
    Token t = Peek();
    if (next_ < tokens_.size() - 1) ++next_;
    return t;
  }
  bool IsKeyword(const char* keyword, size_t ahead = 0) const {
    const Token& t = Peek(ahead);
    return t.kind == TokenKind::kIdentifier && Lower(t.text) == keyword;
  }
  bool IsSymbol(const char* symbol, size_t ahead = 0) const {
    const Token& t = Peek(ahead);
    return t.kind == TokenKind::kSymbol && t.text == symbol;
  }
  bool AcceptKeyword(const char* keyword) {
    if (!IsKeyword(keyword)) return false;
    Take();
    return true;
  }
  bool AcceptSymbol(const char* symbol) {
    if (!IsSymbol(symbol)) return false;
    Take();
    return true;
  }
  arrow::Status ExpectKeyword(const char* keyword) {
    if (AcceptKeyword(keyword)) return arrow::Status::OK();
    std::string upper = keyword;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return Expected(upper);
  }
  arrow::Status ExpectSymbol(const char* symbol) {
    if (AcceptSymbol(symbol)) return arrow::Status::OK();
    return Expected(std::string("'") + symbol + "'");
  }

  // --- grammar --------------------------------------------------------------
  arrow::Result<Expr> ParseOr() {
    ARROW_ASSIGN_OR_RAISE(Expr left, ParseAnd());
    while (AcceptKeyword("or")) {
      ARROW_ASSIGN_OR_RAISE(Expr right, ParseAnd());
      left = left || right;
    }
    return left;
  }

  arrow::Result<Expr> ParseAnd() {
    ARROW_ASSIGN_OR_RAISE(Expr left, ParseNot());
    while (AcceptKeyword("and")) {
      ARROW_ASSIGN_OR_RAISE(Expr right, ParseNot());
      left = left && right;
    }
    return left;
  }

  arrow::Result<Expr> ParseNot() {
    if (AcceptKeyword("not")) {
      ARROW_ASSIGN_OR_RAISE(Expr operand, ParseNot());
      return !operand;
    }
    return ParseComparison();
  }

  arrow::Result<Expr> ParseComparison() {
    ARROW_ASSIGN_OR_RAISE(Expr left, ParseAdditive());
    static const std::pair<const char*, const char*> kComparisons[] = {
        {"=", "equal"},   {"==", "equal"}, {"!=", "not_equal"},     {"<>", "not_equal"},
        {"<", "less"},    {"<=", "less_equal"}, {">", "greater"}, {">=", "greater_equal"}};
    for (const auto& [symbol, function] : kComparisons) {
      if (AcceptSymbol(symbol)) {
        ARROW_ASSIGN_OR_RAISE(Expr right, ParseAdditive());
        return Expr(cp::call(function, {left.expression(), right.expression()}));
      }
    }
    if (AcceptKeyword("is")) {
      const bool negated = AcceptKeyword("not");
      ARROW_RETURN_NOT_OK(ExpectKeyword("null"));
      return negated ? left.IsNotNull() : left.IsNull();
    }
    bool negated = false;
    if (IsKeyword("not") && (IsKeyword("in", 1) || IsKeyword("between", 1) || IsKeyword("like", 1))) {
      Take();
      negated = true;
    }
    if (AcceptKeyword("in")) {
      ARROW_RETURN_NOT_OK(ExpectSymbol("("));
      std::vector<Expr> values;
      do {
        ARROW_ASSIGN_OR_RAISE(Expr value, ParseOr());
        values.push_back(std::move(value));
      } while (AcceptSymbol(","));
      ARROW_RETURN_NOT_OK(ExpectSymbol(")"));
      Expr out = left.IsIn(values);
      return negated ? !out : out;
    }
    if (AcceptKeyword("between")) {
      ARROW_ASSIGN_OR_RAISE(Expr low, ParseAdditive());
      ARROW_RETURN_NOT_OK(ExpectKeyword("and"));
      ARROW_ASSIGN_OR_RAISE(Expr high, ParseAdditive());
      Expr out = left.Between(low, high);
      return negated ? !out : out;
    }
    if (AcceptKeyword("like")) {
      if (Peek().kind != TokenKind::kString) return Expected("a string pattern after LIKE");
      Token pattern = Take();
      Expr out = frame::call("match_like", {left}, std::make_shared<cp::MatchSubstringOptions>(pattern.text));
      return negated ? !out : out;
    }
    if (negated) return Expected("IN, BETWEEN or LIKE after NOT");
    return left;
  }

  arrow::Result<Expr> ParseAdditive() {
    ARROW_ASSIGN_OR_RAISE(Expr left, ParseMultiplicative());
    while (true) {
      if (AcceptSymbol("+")) {
        ARROW_ASSIGN_OR_RAISE(Expr right, ParseMultiplicative());
        left = left + right;
      } else if (AcceptSymbol("-")) {
        ARROW_ASSIGN_OR_RAISE(Expr right, ParseMultiplicative());
        left = left - right;
      } else if (AcceptSymbol("||")) {
        ARROW_ASSIGN_OR_RAISE(Expr right, ParseMultiplicative());
        left = frame::call("binary_join_element_wise", {left, right, lit("")});
      } else {
        return left;
      }
    }
  }

  arrow::Result<Expr> ParseMultiplicative() {
    ARROW_ASSIGN_OR_RAISE(Expr left, ParseUnary());
    while (true) {
      if (AcceptSymbol("*")) {
        ARROW_ASSIGN_OR_RAISE(Expr right, ParseUnary());
        left = left * right;
      } else if (AcceptSymbol("/")) {
        ARROW_ASSIGN_OR_RAISE(Expr right, ParseUnary());
        left = left / right;
      } else if (IsSymbol("%")) {
        return ErrorAt(Peek().position, "'%' is not supported; Arrow has no modulo kernel");
      } else {
        return left;
      }
    }
  }

  arrow::Result<Expr> ParseUnary() {
    if (AcceptSymbol("-")) {
      // Fold negative numeric literals so `-5` stays a literal.
      if (Peek().kind == TokenKind::kInteger || Peek().kind == TokenKind::kDecimal) {
        Token number = Take();
        number.text = "-" + number.text;
        ARROW_ASSIGN_OR_RAISE(Expr value, NumberLiteral(number));
        return ParsePostfix(std::move(value));
      }
      ARROW_ASSIGN_OR_RAISE(Expr operand, ParseUnary());
      return -operand;
    }
    if (AcceptSymbol("+")) return ParseUnary();
    ARROW_ASSIGN_OR_RAISE(Expr primary, ParsePrimary());
    return ParsePostfix(std::move(primary));
  }

  arrow::Result<Expr> ParsePostfix(Expr operand) {
    while (AcceptSymbol("::")) {
      ARROW_ASSIGN_OR_RAISE(auto type, ParseType());
      operand = operand.Cast(std::move(type));
    }
    return operand;
  }

  arrow::Result<Expr> NumberLiteral(const Token& token) {
    if (token.kind == TokenKind::kInteger) {
      int64_t value = 0;
      auto [end, ec] = std::from_chars(token.text.data(), token.text.data() + token.text.size(), value);
      if (ec != std::errc() || end != token.text.data() + token.text.size()) {
        return ErrorAt(token.position, "integer literal " + token.text + " does not fit in int64");
      }
      return lit(value);
    }
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(token.text.c_str(), &end);
    if (errno == ERANGE || end != token.text.c_str() + token.text.size()) {
      return ErrorAt(token.position, "number " + token.text + " does not fit in a double");
    }
    return lit(value);
  }

  // A small non-negative integer argument of a type (precision, scale).
  arrow::Result<int> TypeArgument(const char* what) {
    if (Peek().kind != TokenKind::kInteger) return Expected(what);
    const Token token = Take();
    int value = 0;
    auto [end, ec] = std::from_chars(token.text.data(), token.text.data() + token.text.size(), value);
    if (ec != std::errc() || end != token.text.data() + token.text.size() || value > 76) {
      return ErrorAt(token.position, std::string("expected ") + what + " of at most 76, found " + token.text);
    }
    return value;
  }

  arrow::Result<Expr> ParsePrimary() {
    const Token& token = Peek();
    switch (token.kind) {
      case TokenKind::kInteger:
      case TokenKind::kDecimal:
        return NumberLiteral(Take());
      case TokenKind::kString:
        return lit(Take().text);
      case TokenKind::kQuotedIdentifier:
        return col(Take().text);
      case TokenKind::kSymbol:
        if (AcceptSymbol("(")) {
          ARROW_ASSIGN_OR_RAISE(Expr inner, ParseOr());
          ARROW_RETURN_NOT_OK(ExpectSymbol(")"));
          return inner;
        }
        return Expected("an operand");
      case TokenKind::kEnd:
        return Expected("an operand");
      case TokenKind::kIdentifier:
        break;
    }
    const std::string word = Lower(token.text);
    if (word == "true" || word == "false") {
      Take();
      return lit(word == "true");
    }
    if (word == "null") {
      Take();
      return Expr();
    }
    if ((word == "date" || word == "timestamp") && Peek(1).kind == TokenKind::kString) {
      Take();
      return TemporalLiteral(word, Take());
    }
    if (word == "cast" && IsSymbol("(", 1)) {
      Take();
      Take();
      ARROW_ASSIGN_OR_RAISE(Expr operand, ParseOr());
      ARROW_RETURN_NOT_OK(ExpectKeyword("as"));
      ARROW_ASSIGN_OR_RAISE(auto type, ParseType());
      ARROW_RETURN_NOT_OK(ExpectSymbol(")"));
      return operand.Cast(std::move(type));
    }
    if (word == "case") {
      Take();
      return ParseCase();
    }
    static const char* kReserved[] = {"and", "or", "not", "is", "in", "between", "like",
                                      "when", "then", "else", "end", "as", "where", "select"};
    for (const char* reserved : kReserved) {
      if (word == reserved) return Expected("an operand");
    }
    Token name = Take();
    if (AcceptSymbol("(")) return ParseCall(name);
    return col(name.text);
  }

  arrow::Result<Expr> ParseCase() {
    // CASE [operand] WHEN a THEN x [WHEN ...] [ELSE y] END
    std::optional<Expr> operand;
    if (!IsKeyword("when")) {
      ARROW_ASSIGN_OR_RAISE(Expr subject, ParseOr());
      operand = std::move(subject);
    }
    std::vector<Expr> conditions, values;
    while (AcceptKeyword("when")) {
      ARROW_ASSIGN_OR_RAISE(Expr condition, ParseOr());
      if (operand) condition = *operand == condition;
      ARROW_RETURN_NOT_OK(ExpectKeyword("then"));
      ARROW_ASSIGN_OR_RAISE(Expr value, ParseOr());
      conditions.push_back(std::move(condition));
      values.push_back(std::move(value));
    }
    if (conditions.empty()) return Expected("WHEN");
    Expr otherwise;
    if (AcceptKeyword("else")) {
      ARROW_ASSIGN_OR_RAISE(otherwise, ParseOr());
    }
    ARROW_RETURN_NOT_OK(ExpectKeyword("end"));
    return CaseWhen(conditions, values, otherwise);
  }

  arrow::Result<Expr> ParseCall(const Token& name) {
    ARROW_ASSIGN_OR_RAISE(auto function, LookUp(name));
    std::vector<Expr> arguments;
    if (!AcceptSymbol(")")) {
      do {
        ARROW_ASSIGN_OR_RAISE(Expr argument, ParseOr());
        arguments.push_back(std::move(argument));
      } while (AcceptSymbol(","));
      ARROW_RETURN_NOT_OK(ExpectSymbol(")"));
    }
    const cp::Arity& arity = function->arity();
    const int count = static_cast<int>(arguments.size());
    if (arity.is_varargs ? count < arity.num_args : count != arity.num_args) {
      return ErrorAt(name.position, "function '" + name.text + "' takes " +
                                        (arity.is_varargs ? "at least " : "") +
                                        std::to_string(arity.num_args) + " argument(s), got " +
                                        std::to_string(count));
    }
    return frame::call(function->name(), std::move(arguments));
  }

  arrow::Result<std::shared_ptr<cp::Function>> LookUp(const Token& name) {
    ARROW_RETURN_NOT_OK(internal::EnsureInitialized());
    auto* registry = cp::GetFunctionRegistry();
    auto found = registry->GetFunction(name.text);
    if (!found.ok()) found = registry->GetFunction(Lower(name.text));
    if (!found.ok()) return ErrorAt(name.position, "unknown function '" + name.text + "'");
    auto function = *found;
    if (function->kind() != cp::Function::SCALAR) {
      return ErrorAt(name.position, "function '" + name.text +
                                        "' is not a scalar (row-wise) function; aggregates "
                                        "belong in GroupBy().Agg()");
    }
    return function;
  }

  arrow::Result<Expr> TemporalLiteral(const std::string& word, const Token& literal) {
    if (word == "date") {
      auto scalar = arrow::Scalar::Parse(arrow::date32(), literal.text);
      if (!scalar.ok()) {
        return ErrorAt(literal.position, "expected a date as 'YYYY-MM-DD', found '" + literal.text + "'");
      }
      return lit(*scalar);
    }
    const std::string& value = literal.text;
    int64_t micros = 0;
    bool utc = false;
    if (!arrow::internal::ParseTimestampISO8601(value.data(), value.size(),
                                                arrow::TimeUnit::MICRO, &micros, &utc)) {
      return ErrorAt(literal.position,
                     "expected a timestamp as 'YYYY-MM-DD HH:MM:SS[.ffffff][Z|+HH:MM]', found '" +
                         literal.text + "'");
    }
    auto type = arrow::timestamp(arrow::TimeUnit::MICRO, utc ? "UTC" : "");
    return lit(std::make_shared<arrow::TimestampScalar>(micros, type));
  }

  arrow::Result<std::shared_ptr<arrow::DataType>> ParseType() {
    const Token& token = Peek();
    if (token.kind != TokenKind::kIdentifier) return Expected("a type name");
    const std::string name = Lower(Take().text);
    const std::pair<const char*, std::shared_ptr<arrow::DataType>> kSimple[] = {
        {"bool", arrow::boolean()},       {"boolean", arrow::boolean()},  {"int8", arrow::int8()},
        {"tinyint", arrow::int8()},       {"int16", arrow::int16()},      {"smallint", arrow::int16()},
        {"int32", arrow::int32()},        {"int", arrow::int32()},        {"integer", arrow::int32()},
        {"int64", arrow::int64()},        {"bigint", arrow::int64()},     {"uint8", arrow::uint8()},
        {"uint16", arrow::uint16()},      {"uint32", arrow::uint32()},    {"uint64", arrow::uint64()},
        {"float", arrow::float32()},      {"float32", arrow::float32()},  {"real", arrow::float32()},
        {"double", arrow::float64()},     {"float64", arrow::float64()},  {"string", arrow::utf8()},
        {"utf8", arrow::utf8()},          {"varchar", arrow::utf8()},     {"text", arrow::utf8()},
        {"large_string", arrow::large_utf8()}, {"binary", arrow::binary()}, {"date", arrow::date32()},
        {"date32", arrow::date32()},      {"date64", arrow::date64()}};
    for (const auto& [type_name, type] : kSimple) {
      if (name == type_name) return type;
    }
    if (name == "timestamp") {
      arrow::TimeUnit::type unit = arrow::TimeUnit::MICRO;
      std::string timezone;
      if (AcceptSymbol("(")) {
        if (Peek().kind != TokenKind::kIdentifier) return Expected("a time unit (s, ms, us, ns)");
        const Token unit_token = Take();
        const std::string u = Lower(unit_token.text);
        if (u == "s") unit = arrow::TimeUnit::SECOND;
        else if (u == "ms") unit = arrow::TimeUnit::MILLI;
        else if (u == "us") unit = arrow::TimeUnit::MICRO;
        else if (u == "ns") unit = arrow::TimeUnit::NANO;
        else return ErrorAt(unit_token.position, "expected a time unit (s, ms, us, ns), found '" + unit_token.text + "'");
        if (AcceptSymbol(",")) {
          if (Peek().kind != TokenKind::kString) return Expected("a time zone string");
          timezone = Take().text;
        }
        ARROW_RETURN_NOT_OK(ExpectSymbol(")"));
      }
      return arrow::timestamp(unit, timezone);
    }
    if (name == "decimal" || name == "decimal128" || name == "numeric") {
      ARROW_RETURN_NOT_OK(ExpectSymbol("("));
      ARROW_ASSIGN_OR_RAISE(const int precision, TypeArgument("a precision"));
      int scale = 0;
      if (AcceptSymbol(",")) {
        ARROW_ASSIGN_OR_RAISE(scale, TypeArgument("a scale"));
      }
      ARROW_RETURN_NOT_OK(ExpectSymbol(")"));
      auto type = arrow::Decimal128Type::Make(precision, scale);
      if (!type.ok()) return ErrorAt(token.position, type.status().message());
      return *type;
    }
    return ErrorAt(token.position, "unknown type '" + token.text + "'");
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  size_t next_ = 0;
};

}  // namespace

arrow::Result<Expr> ParseExpression(std::string_view text) { return Parser(text).ParseAll(); }

arrow::Result<SelectSpec> ParseSelect(std::string_view text) { return Parser(text).ParseSelectAll(); }

arrow::Result<std::shared_ptr<arrow::DataType>> ParseTypeName(std::string_view text) {
  return Parser(text).ParseTypeOnly();
}

}  // namespace flightdeck::frame
