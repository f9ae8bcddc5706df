// flightdeck/frame/type_names.h: Arrow types and values as the engine's SQL
// spells them, and the type names plans use.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/type_fwd.h>

namespace flightdeck::frame {

/// Parses a type name of a plan's cast step (Arrow's names):
/// bool; int8, int16, int32, int64 (tinyint, smallint, int / integer,
/// bigint); uint8 .. uint64; float (real, float32); double (float64);
/// string (utf8, varchar, text), large_string; binary; date (date32), date64;
/// timestamp[(unit[, 'tz'])] with unit s, ms, us or ns; time; decimal(p, s).
/// Fails with Invalid naming the unknown type.
arrow::Result<std::shared_ptr<arrow::DataType>> ParseTypeName(std::string_view text);

/// The engine's SQL type for an Arrow type, e.g. BIGINT, DECIMAL(15,2),
/// TIMESTAMP_MS, TIMESTAMPTZ. Fails with Invalid for types it has none for.
arrow::Result<std::string> SqlTypeName(const arrow::DataType& type);

/// SqlTypeName for a cast whose result must come back as exactly `type`:
/// Invalid (naming the nearest type that does) for the Arrow types the
/// engine has no type of its own for: large_string and large_binary (they
/// come back as string and binary), date64 (as date32), time32 (as time64),
/// and timestamps with a zone other than UTC or a unit other than us (as
/// timestamp[us, UTC]).
arrow::Result<std::string> SqlCastTypeName(const arrow::DataType& type);

/// A SQL literal of exactly `value`'s type, e.g. CAST(42 AS BIGINT),
/// DATE '2024-01-31', CAST(NULL AS VARCHAR). Fails with Invalid for types
/// without a SQL spelling.
arrow::Result<std::string> SqlLiteral(const arrow::Scalar& value);

}  // namespace flightdeck::frame
