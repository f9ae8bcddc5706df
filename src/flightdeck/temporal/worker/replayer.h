// flightdeck/temporal/worker/replayer.h: replaying recorded histories
// offline, without a server, to check that workflow code still produces the
// commands history recorded (protocol doc 7, "Exporting histories").
//
//   ARROW_ASSIGN_OR_RAISE(auto history, HistoryFromJson(ReadFile("h.json")));
//   ARROW_RETURN_NOT_OK(ReplayHistory(registry, history));   // Invalid on nondeterminism
#pragma once

#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/temporal/client/history_export.h"  // HistoryFromJson
#include "flightdeck/temporal/workflow/workflow_registry.h"
#include "temporal/api/history/v1/message.pb.h"

namespace flightdeck::temporal {

using History = ::temporal::api::history::v1::History;

/// Replays `history` (e.g. from HistoryFromJson of `temporal workflow show
/// --output json`) with the workflow registered under its type name. Invalid
/// on an empty history.
/// OK when the code reproduces every recorded command; Invalid with a message
/// naming the event and the command on nondeterminism; KeyError when the
/// type is not registered; UnknownError when workflow code threw.
/// `workflow_id` is the id the run had (histories do not record it); it
/// matters for workflows that derive child ids from it.
/// A history recorded by a worker with payload codecs is replayed after
/// CodecChain::DecodeAll(&history) with the same codecs.
arrow::Status ReplayHistory(const workflow::WorkflowRegistry& registry, const History& history,
                            const std::string& workflow_id = "replay");

/// True when `status` (from ReplayHistory) reports nondeterminism.
bool IsNondeterminismError(const arrow::Status& status);

}  // namespace flightdeck::temporal
