#include "flightdeck/frame/type_names.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <regex>

#include <arrow/scalar.h>
#include <arrow/type.h>
#include <arrow/util/decimal.h>

#include "flightdeck/frame/sql_text.h"

namespace flightdeck::frame {
namespace {

std::string Lower(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

arrow::Result<arrow::TimeUnit::type> ParseUnit(const std::string& unit, std::string_view text) {
  if (unit == "s") return arrow::TimeUnit::SECOND;
  if (unit == "ms") return arrow::TimeUnit::MILLI;
  if (unit == "us") return arrow::TimeUnit::MICRO;
  if (unit == "ns") return arrow::TimeUnit::NANO;
  return arrow::Status::Invalid("type '", text, "': unknown time unit '", unit,
                                "' (expected s, ms, us or ns)");
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::DataType>> ParseTypeName(std::string_view text) {
  static const std::map<std::string, std::shared_ptr<arrow::DataType>> kNames = {
      {"bool", arrow::boolean()},       {"boolean", arrow::boolean()},
      {"int8", arrow::int8()},          {"tinyint", arrow::int8()},
      {"int16", arrow::int16()},        {"smallint", arrow::int16()},
      {"int32", arrow::int32()},        {"int", arrow::int32()},
      {"integer", arrow::int32()},      {"int64", arrow::int64()},
      {"bigint", arrow::int64()},       {"uint8", arrow::uint8()},
      {"uint16", arrow::uint16()},      {"uint32", arrow::uint32()},
      {"uint64", arrow::uint64()},      {"float", arrow::float32()},
      {"real", arrow::float32()},       {"float32", arrow::float32()},
      {"double", arrow::float64()},     {"float64", arrow::float64()},
      {"string", arrow::utf8()},        {"utf8", arrow::utf8()},
      {"varchar", arrow::utf8()},       {"text", arrow::utf8()},
      {"large_string", arrow::large_utf8()}, {"binary", arrow::binary()},
      {"date", arrow::date32()},        {"date32", arrow::date32()},
      {"date64", arrow::date64()},      {"timestamp", arrow::timestamp(arrow::TimeUnit::MICRO)},
      {"time", arrow::time64(arrow::TimeUnit::MICRO)},
  };
  const std::string name = Lower(text);
  if (auto it = kNames.find(name); it != kNames.end()) return it->second;
  static const std::regex kTimestamp(R"(timestamp\((s|ms|us|ns)(,'([^']*)')?\))");
  static const std::regex kDecimal(R"(decimal\((\d+)(,(\d+))?\))");
  std::smatch match;
  if (std::regex_match(name, match, kTimestamp)) {
    ARROW_ASSIGN_OR_RAISE(auto unit, ParseUnit(match[1].str(), text));
    if (!match[3].matched) return arrow::timestamp(unit);
    // Keep the zone's spelling as written (the lower-casing above was for
    // the keywords only).
    const std::string original(text);
    const auto open = original.find('\''), close = original.rfind('\'');
    return arrow::timestamp(unit, original.substr(open + 1, close - open - 1));
  }
  if (std::regex_match(name, match, kDecimal)) {
    const int precision = std::stoi(match[1].str());
    const int scale = match[3].matched ? std::stoi(match[3].str()) : 0;
    if (precision < 1 || precision > 38 || scale > precision) {
      return arrow::Status::Invalid("type '", text,
                                    "': decimal precision must be 1 to 38 and scale at most the precision");
    }
    return arrow::decimal128(precision, scale);
  }
  return arrow::Status::Invalid(
      "unknown type '", text,
      "' (expected bool, int8..int64, uint8..uint64, float, double, string, large_string, binary, "
      "date, date64, time, timestamp[(unit[, 'tz'])], decimal(p, s))");
}

arrow::Result<std::string> SqlTypeName(const arrow::DataType& type) {
  using arrow::Type;
  switch (type.id()) {
    case Type::BOOL: return "BOOLEAN";
    case Type::INT8: return "TINYINT";
    case Type::INT16: return "SMALLINT";
    case Type::INT32: return "INTEGER";
    case Type::INT64: return "BIGINT";
    case Type::UINT8: return "UTINYINT";
    case Type::UINT16: return "USMALLINT";
    case Type::UINT32: return "UINTEGER";
    case Type::UINT64: return "UBIGINT";
    case Type::FLOAT: return "FLOAT";
    case Type::DOUBLE: return "DOUBLE";
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW: return "VARCHAR";
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW: return "BLOB";
    case Type::DATE32:
    case Type::DATE64: return "DATE";
    case Type::TIME32:
    case Type::TIME64: return "TIME";
    case Type::INTERVAL_MONTH_DAY_NANO:
    case Type::DURATION: return "INTERVAL";
    case Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      if (!ts.timezone().empty()) return "TIMESTAMPTZ";
      switch (ts.unit()) {
        case arrow::TimeUnit::SECOND: return "TIMESTAMP_S";
        case arrow::TimeUnit::MILLI: return "TIMESTAMP_MS";
        case arrow::TimeUnit::MICRO: return "TIMESTAMP";
        case arrow::TimeUnit::NANO: return "TIMESTAMP_NS";
      }
      break;
    }
    case Type::DECIMAL128: {
      const auto& d = static_cast<const arrow::Decimal128Type&>(type);
      return "DECIMAL(" + std::to_string(d.precision()) + "," + std::to_string(d.scale()) + ")";
    }
    default:
      break;
  }
  return arrow::Status::Invalid("the engine has no SQL type for Arrow type ", type.ToString());
}

arrow::Result<std::string> SqlCastTypeName(const arrow::DataType& type) {
  using arrow::Type;
  std::string nearest;
  switch (type.id()) {
    case Type::LARGE_STRING:
    case Type::STRING_VIEW: nearest = "string"; break;
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW: nearest = "binary"; break;
    case Type::DATE64: nearest = "date32"; break;
    case Type::TIME32: nearest = "time64[us]"; break;
    case Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      if (!ts.timezone().empty() && (ts.timezone() != "UTC" || ts.unit() != arrow::TimeUnit::MICRO)) {
        nearest = "timestamp[us, tz=UTC]";
      }
      break;
    }
    default: break;
  }
  if (!nearest.empty()) {
    return arrow::Status::Invalid("the engine cannot cast to ", type.ToString(), " (it would give ", nearest,
                                  "); cast to ", nearest, " instead");
  }
  return SqlTypeName(type);
}

arrow::Result<std::string> SqlLiteral(const arrow::Scalar& value) {
  ARROW_ASSIGN_OR_RAISE(const std::string type, SqlTypeName(*value.type));
  if (!value.is_valid) return "CAST(NULL AS " + type + ")";
  using arrow::Type;
  switch (value.type->id()) {
    case Type::BOOL:
      return static_cast<const arrow::BooleanScalar&>(value).value ? "TRUE" : "FALSE";
    case Type::FLOAT:
    case Type::DOUBLE: {
      const double v = value.type->id() == Type::FLOAT
                           ? static_cast<const arrow::FloatScalar&>(value).value
                           : static_cast<const arrow::DoubleScalar&>(value).value;
      if (std::isnan(v)) return "CAST('nan' AS " + type + ")";
      if (std::isinf(v)) return std::string("CAST('") + (v > 0 ? "inf" : "-inf") + "' AS " + type + ")";
      char buffer[64];
      std::snprintf(buffer, sizeof(buffer), "%.17g", v);
      return "CAST(" + std::string(buffer) + " AS " + type + ")";
    }
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW:
      return QuoteString(value.ToString());
    case Type::BINARY:
    case Type::LARGE_BINARY: {
      std::string escaped;
      char hex[8];
      for (unsigned char c : static_cast<const arrow::BaseBinaryScalar&>(value).view()) {
        std::snprintf(hex, sizeof(hex), "\\x%02X", c);
        escaped += hex;
      }
      return "CAST(" + QuoteString(escaped) + " AS BLOB)";
    }
    default:
      // Integers, decimals, dates, times and timestamps: Arrow's rendering
      // (e.g. 2024-01-31, 2024-01-31 10:00:00.000000Z) is what the cast
      // from a string expects.
      return "CAST(" + QuoteString(value.ToString()) + " AS " + type + ")";
  }
}

}  // namespace flightdeck::frame
