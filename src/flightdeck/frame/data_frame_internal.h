#pragma once

// Plan-building helpers shared by the DataFrame's source files
// (data_frame.cc, data_frame_io.cc, data_frame_relational.cc); not API.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type.h>

#include "flightdeck/frame/plan_internal.h"

namespace flightdeck::frame::internal {

std::string JoinNames(const std::vector<std::string>& names, const std::string& separator = ", ");

/// The names as quoted SQL identifiers, comma-separated.
std::string Quoted(const std::vector<std::string>& names);

/// A query node over `inputs`; one ordered input keeps its order.
std::shared_ptr<PlanNode> NewQuery(std::vector<NodePtr> inputs, std::vector<SqlPart> sql, std::string label);

/// An Arrow stream node; `once`: `open` gives the same reader every time,
/// so the node can be read once.
std::shared_ptr<PlanNode> NewStream(
    std::shared_ptr<arrow::Schema> schema, std::string label,
    std::function<arrow::Result<std::shared_ptr<arrow::RecordBatchReader>>()> open, bool once);

/// A stream node that reads `reader` once.
NodePtr SingleUseSource(std::shared_ptr<arrow::RecordBatchReader> reader, std::string label);

/// User-written SQL placed on lines of its own ("\n" + text + "\n"), so that
/// an engine error's LINE excerpt maps back into it.
std::string OwnLines(const std::string& text);

/// Binds `node`; a failure is explained against the user-written `texts`
/// placed in it with OwnLines: the one the engine's error points into (or
/// the only one) gets a caret, and an unknown column the closest names of
/// `columns`.
arrow::Result<std::shared_ptr<arrow::Schema>> BindExplained(const NodePtr& node, const std::string& op,
                                                            const std::vector<std::string>& texts,
                                                            const arrow::Schema* columns, bool external_access);

/// A name for an internal column that no column of `schema` has.
std::string UnusedName(const arrow::Schema& schema, std::string name);

}  // namespace flightdeck::frame::internal
