// flightdeck/flight/node_protocol_internal.h: pieces of the data node's
// protocol that its service (data_node.cc) uses: how store errors become
// Flight statuses, how tickets and names are checked, the actions it lists.
// Internal to the flight layer.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/flight/server.h>
#include <arrow/flight/types.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/flight/batch_store.h"
#include "flightdeck/flight/ticket.h"

namespace flightdeck::flight::internal {

/// Store errors as Flight statuses: corrupt data and failed disk writes are
/// INTERNAL; a full node (or tenant) stays CapacityError and carries
/// google.rpc.Status{RESOURCE_EXHAUSTED, message} as the Flight extra info.
arrow::Status ToFlight(const arrow::Status& st);

/// Invalid when a schema's metadata exceeds kMaxSchemaMetadataBytes.
arrow::Status CheckMetadataSize(const arrow::Schema& schema);

/// The dataset name of a "tenant/dataset/partition" path.
std::string DatasetOfPath(const std::string& path);

/// The same answer (KeyError) for unknown, malformed and foreign tickets.
arrow::Status TicketNotFound();
/// The ticket of `bytes` when it is the caller's tenant's; TicketNotFound
/// otherwise.
arrow::Result<TicketId> TicketFor(const arrow::flight::ServerCallContext& context, std::string_view bytes);
/// The ticket of an action body {"ticket": "..."}.
arrow::Result<TicketId> TicketFromBody(const arrow::flight::ServerCallContext& context,
                                       const std::shared_ptr<arrow::Buffer>& body);

/// After drop/gc: hands freed memory back to the system only while held plus
/// kept bytes exceed the memory budget.
void ReturnFreedMemoryAboveBudget(const BatchStore& store);

/// One result holding `text`.
std::unique_ptr<arrow::flight::ResultStream> JsonResult(const std::string& text);

/// The actions the node lists and serves.
const std::vector<arrow::flight::ActionType>& Actions();

}  // namespace flightdeck::flight::internal
