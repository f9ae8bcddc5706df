// flightdeck/flight/node_client.h: the one client of the data-node protocol.
//
// Every layer that talks to a data node (the frame's Flight sources and
// sinks, the pipeline's stage activities and `flightdeck gc`) goes through
// NodeClient, so that the call metadata (the tenant today; credentials and
// trace context later) is added in one place and the node's answers are
// decoded once. The Python stage has the same in
// python/flightdeck_stage/node_client.py.
//
//   ARROW_ASSIGN_OR_RAISE(auto node, NodeClient::For("grpc+tcp://127.0.0.1:7100"));
//   const CallIdentity who{.tenant = "acme"};
//   ARROW_ASSIGN_OR_RAISE(DatasetRef put, node->Put(who, descriptor, *reader));
//   ARROW_ASSIGN_OR_RAISE(auto stream, node->Get(who, put.ticket));   // lost: IsDatasetLost
//
// Errors keep the node's status code (KeyError for an unknown path,
// CapacityError for a full node, IOError for a dropped connection); a
// ticket or path the node does not hold (never had, dropped, expired,
// restarted without it) carries DatasetLostDetail, found with IsDatasetLost,
// never by reading the message.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/flight/client.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>
#include <nlohmann/json.hpp>

#include "flightdeck/flight/dataset_ref.h"
#include "flightdeck/flight/tls.h"

namespace flightdeck::flight {

/// Who makes a call: what the node learns about the caller.
struct CallIdentity {
  std::string tenant = "default";
};

/// The status detail of "the node does not hold this dataset": `what` names
/// it for the caller ("input 3", "spec", or empty when the caller did not
/// say).
class DatasetLostDetail : public arrow::StatusDetail {
 public:
  explicit DatasetLostDetail(std::string what) : what_(std::move(what)) {}
  const char* type_id() const override;
  std::string ToString() const override;
  const std::string& what() const { return what_; }

 private:
  std::string what_;
};

/// KeyError "dataset lost: <what>: <cause's message>" with DatasetLostDetail.
arrow::Status DatasetLost(const std::string& what, const arrow::Status& cause);
/// True when `status` carries DatasetLostDetail.
bool IsDatasetLost(const arrow::Status& status);
/// The detail's `what`, or nullopt when `status` is not a lost dataset.
std::optional<std::string> LostDatasetOf(const arrow::Status& status);

/// The app_metadata of the DoPut message by which a client abandons a put
/// ({"abort": reason}): the data node then keeps nothing of it. (A Flight
/// client cannot abort a DoPut otherwise: closing the stream ends it
/// cleanly, which commits what was sent.)
std::string PutAbortMetadata(const std::string& reason);
/// The reason of an abort message; nullopt for any other app_metadata.
std::optional<std::string> PutAbortReason(const arrow::Buffer& app_metadata);

/// What a DoPut sent and what the server answered.
struct PutStreamResult {
  int64_t rows = 0;
  int64_t batches = 0;
  /// The app_metadata of each PutResult message the server sent, in order.
  std::vector<std::string> server_metadata;
};

/// Where one copy of a dataset is: a node that holds it and its ticket there.
struct DatasetCopy {
  std::string node;
  std::string ticket;
};

/// A connection to one data node. Thread-safe; cheap to share.
class NodeClient {
 public:
  /// The client of `location` ("grpc+tcp://host:port"): one connection per
  /// location for the whole process, made on first use. Invalid for a
  /// location that does not parse; the connection itself is made lazily by
  /// gRPC, so a node that is down fails the first call (IOError), not this.
  /// A lost connection is dialled again at most a second apart, so calls
  /// work again within a second of a restarted node answering.
  static arrow::Result<std::shared_ptr<NodeClient>> For(const std::string& location);
  /// How this process's clients dial grpc+tls:// locations (CA, client
  /// certificate, server name); set before the first call, as the CLI does
  /// from its --tls-* flags. Checks the files; clients made before are
  /// dropped from the cache.
  static arrow::Status UseTls(const ClientTls& tls);
  /// The bearer token every call of this process's clients carries
  /// (`authorization: Bearer TOKEN`), for nodes with an auth config; empty:
  /// none.
  static void UseToken(std::string token);

  const std::string& location() const { return location_; }
  /// The options every call to the node carries for `who`.
  arrow::flight::FlightCallOptions CallOptions(const CallIdentity& who) const;
  /// The underlying Flight client, for calls this class does not wrap.
  arrow::flight::FlightClient& flight() { return *client_; }

  /// Puts every batch of `batches` under `descriptor` (a path or a JSON
  /// command descriptor) and returns the ref of the new dataset (the node's
  /// summary: ticket, rows, bytes, fingerprint, checksum, path).
  arrow::Result<DatasetRef> Put(const CallIdentity& who,
                                 const arrow::flight::FlightDescriptor& descriptor,
                                 arrow::RecordBatchReader& batches);
  /// The one DoPut loop, for any Flight server: sends `first` (when given,
  /// a batch already taken from `batches`) and then the rest of `batches`
  /// under `descriptor`, and collects the server's answers. When `batches`
  /// fails, the put is abandoned with PutAbortMetadata (the data node keeps
  /// nothing of it; another Flight server may keep what it got) and the
  /// reader's error is returned.
  arrow::Result<PutStreamResult> PutStream(const CallIdentity& who,
                                           const arrow::flight::FlightDescriptor& descriptor,
                                           arrow::RecordBatchReader& batches,
                                           std::shared_ptr<arrow::RecordBatch> first = nullptr);
  /// The dataset of `ticket` as a stream; DatasetLost when the node does
  /// not hold it.
  arrow::Result<std::unique_ptr<arrow::flight::FlightStreamReader>> Get(const CallIdentity& who,
                                                                        const std::string& ticket);
  /// The ticket of the dataset at `path` (tenant, dataset, partition), or
  /// nullopt when the node holds none there.
  arrow::Result<std::optional<std::string>> Find(const CallIdentity& who,
                                                 const std::vector<std::string>& path);
  /// Failover for replicated datasets: the first of `holders` (the nodes
  /// its copies are put on, in the order to try them) that holds a dataset
  /// at `path`. A node that does not answer is skipped (its failure goes to
  /// `*unreachable` when given); nullopt when no node that answered holds
  /// one.
  static arrow::Result<std::optional<DatasetCopy>> FindCopy(const std::vector<std::string>& holders,
                                                            const CallIdentity& who,
                                                            const std::vector<std::string>& path,
                                                            arrow::Status* unreachable = nullptr);
  /// Makes the dataset of `ticket` durable; its ref (durable set).
  arrow::Result<DatasetRef> Persist(const CallIdentity& who, const std::string& ticket);
  /// Drops the dataset of `ticket`; DatasetLost when it is not there.
  arrow::Status Drop(const CallIdentity& who, const std::string& ticket);
  /// Leases every partition of the named datasets for `ttl_ms` (0: drops
  /// them); how many datasets it touched.
  arrow::Result<int64_t> Expire(const CallIdentity& who, const std::vector<std::string>& datasets,
                                int64_t ttl_ms);
  /// The node's stats (totals, and the caller's tenant's usage).
  arrow::Result<nlohmann::json> Stats(const CallIdentity& who);
  /// Every dataset of the caller's tenant whose path starts with `prefix`.
  arrow::Result<std::vector<arrow::flight::FlightInfo>> List(const CallIdentity& who,
                                                             const std::string& prefix = "");
  /// Streams `input` through the node's DoExchange transform `command`;
  /// the transformed batches.
  arrow::Result<std::shared_ptr<arrow::Table>> Exchange(const CallIdentity& who, const std::string& command,
                                                        arrow::RecordBatchReader& input);
  /// Any other action: its body (JSON) and its one JSON answer.
  arrow::Result<nlohmann::json> Action(const CallIdentity& who, const std::string& type,
                                       const nlohmann::json& body);

 private:
  NodeClient(std::string location, std::unique_ptr<arrow::flight::FlightClient> client)
      : location_(std::move(location)), client_(std::move(client)) {}

  std::string location_;
  std::unique_ptr<arrow::flight::FlightClient> client_;
};

}  // namespace flightdeck::flight
