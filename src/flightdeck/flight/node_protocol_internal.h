// flightdeck/flight/node_protocol_internal.h: pieces of the data node's
// protocol that its service (data_node.cc) uses: how store errors become
// Flight statuses, how tickets and names are checked, the actions it lists.
// Internal to the flight layer.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/flight/server.h>
#include <arrow/flight/types.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/common/file_encryption.h"
#include "flightdeck/flight/auth_config.h"
#include "flightdeck/flight/batch_store.h"
#include "flightdeck/flight/ticket.h"
#include "flightdeck/flight/ticket_signer.h"

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
/// The ticket text of an action body {"ticket": "..."}; Invalid otherwise.
arrow::Result<std::string> TicketTextOfBody(const std::shared_ptr<arrow::Buffer>& body);

/// The tickets a node hands out and redeems: plain on a node without ticket
/// keys, else signed (ticket_signer.h) with the rights the caller holds on
/// the dataset and the node's ticket lifetime.
class NodeTickets {
 public:
  /// `keys` null: plain tickets. `ttl` zero: as long as the dataset.
  NodeTickets(std::shared_ptr<const KeyRing> keys, std::chrono::milliseconds ttl);

  /// The ticket the caller gets for `plain` (a wire form of `ticket`).
  std::string Issue(const arrow::flight::ServerCallContext& context, const std::string& plain,
                    const TicketId& ticket, const std::string& dataset) const;

  /// The ticket (or part) of wire bytes the caller presents for `right`.
  /// Signed tickets only on a node with keys: a forged, altered, expired or
  /// insufficient one is PERMISSION_DENIED even when its dataset exists,
  /// another tenant's too. Without keys: the plain ticket of the caller's
  /// tenant (NOT_FOUND otherwise).
  arrow::Result<TicketPart> Redeem(const arrow::flight::ServerCallContext& context, std::string_view bytes,
                                   Right right) const;

  /// Tickets issued from now on are signed with the newest key of `keys`;
  /// tickets are verified with all of them. Invalid when the node signs no
  /// tickets or `keys` drops a key of the ring in use (tickets out there
  /// would stop verifying).
  arrow::Status ReplaceKeys(std::shared_ptr<const KeyRing> keys);

 private:
  std::shared_ptr<const TicketSigner> Signer() const;
  mutable std::mutex mutex_;
  std::shared_ptr<const TicketSigner> signer_;  // guarded by mutex_; null: plain tickets
  std::shared_ptr<const KeyRing> keys_;         // guarded by mutex_
  std::chrono::milliseconds ttl_;
};

/// The ticket keys of a node with an auth config and no keys of its own:
/// `data_dir`/ticket.keys, made (mode 0600) when missing, or a key in
/// memory when there is no data dir.
arrow::Result<std::shared_ptr<const KeyRing>> DefaultTicketKeys(const std::string& data_dir);

/// After drop/gc: hands freed memory back to the system only while held plus
/// kept bytes exceed the memory budget.
void ReturnFreedMemoryAboveBudget(const BatchStore& store);

/// One result holding `text`.
std::unique_ptr<arrow::flight::ResultStream> JsonResult(const std::string& text);

/// The actions the node lists and serves.
const std::vector<arrow::flight::ActionType>& Actions();

}  // namespace flightdeck::flight::internal
