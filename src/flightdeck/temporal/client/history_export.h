// flightdeck/temporal/client/history_export.h: workflow histories as the JSON
// `temporal workflow show --output json` writes, for replay tests and
// debugging.
//
// The format is proto3 JSON of temporal.api.history.v1.History: camelCase
// field names, int64 as strings, durations as "10s", bytes as base64, enums by
// full name, payloads as {metadata, data}.
//
//   ARROW_ASSIGN_OR_RAISE(auto history, client->GetHistory(handle));
//   ARROW_RETURN_NOT_OK(WriteHistoryJsonFile(history, "/tmp/greet.json"));
//   ARROW_ASSIGN_OR_RAISE(auto again, ReadHistoryJsonFile("/tmp/greet.json"));
#pragma once

#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/status.h>

#include "temporal/api/history/v1/message.pb.h"

namespace flightdeck::temporal {

/// The history as indented JSON. Thread-safe (pure).
arrow::Result<std::string> HistoryToJson(const ::temporal::api::history::v1::History& history);

/// Parses JSON written by HistoryToJson or the Temporal CLI; unknown fields
/// are ignored (forward compatibility). SerializationError naming the parse
/// problem otherwise. Thread-safe (pure).
arrow::Result<::temporal::api::history::v1::History> HistoryFromJson(std::string_view json);

/// HistoryToJson into a file (written to "<path>.tmp", then renamed, so a
/// failure leaves no half-written file). IOError naming the path.
arrow::Status WriteHistoryJsonFile(const ::temporal::api::history::v1::History& history,
                                   const std::string& path);

/// Reads and parses a file written by WriteHistoryJsonFile or
/// `temporal workflow show --output json`. IOError naming the path when it
/// cannot be read.
arrow::Result<::temporal::api::history::v1::History> ReadHistoryJsonFile(
    const std::string& path);

}  // namespace flightdeck::temporal
