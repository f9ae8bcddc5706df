// flightdeck/flight/data_node.h: the Arrow Flight data node.
//
// A DataNode serves a BatchStore over Flight, following the data contract in
// architecture.md:
//  - DoPut with a dataset descriptor (dataset_descriptor.h) stores the stream
//    atomically: the dataset becomes visible only when the stream ended
//    cleanly; a dropped client, an invalid batch or a full node leaves
//    nothing. The put's result metadata is one JSON object: the ticket and
//    the summary (DatasetSummary::ToJson: rows, bytes, schema_fingerprint,
//    checksum, ...).
//  - DoGet by ticket streams the batches without copying them (from memory,
//    or from the memory-mapped disk tier).
//  - GetFlightInfo / GetSchema on a dataset descriptor, ListFlights with the
//    criteria as a path prefix: real row and byte counts, one endpoint with
//    the ticket and this node's location. GetFlightInfo on a command
//    descriptor with "endpoints": N answers N endpoints instead, in order,
//    each a part ticket (ticket.h) for a share of the batches, so a client
//    can fetch one dataset over N concurrent streams; DoGet serves part
//    tickets like whole ones, without copying.
//  - DoExchange with a command descriptor: batches streamed in come back
//    through DataNodeOptions::exchange_transform applied to the command text
//    (exchange_transform.h); without a hook DoExchange is UNIMPLEMENTED.
//  - DoAction: drop, persist ({"ticket": T}), stats, health, gc, expire;
//    each answers one JSON result. ListActions lists them. `stats` holds the
//    node totals (StoreStats::ToJson), the number of tenants holding data,
//    and under "tenant" the caller's own {name, datasets, bytes,
//    memory_bytes, disk_bytes}; other tenants' figures are not shown.
//  - Dataset lifetime as Flight's endpoint lifetime: an endpoint's
//    expiration_time is its dataset's expiry (none: it lives until dropped);
//    Flight's RenewFlightEndpoint moves it to the requested time (no time:
//    the default TTL, or an hour, from now) and answers the endpoint with it;
//    Flight's CancelFlightInfo releases (drops) the datasets of the info's
//    endpoints. `expire` does the same in bulk by dataset name, every
//    partition: a lease (ttl_ms from now) or a drop (0) -- how a pipeline run
//    keeps its intermediate datasets alive and releases them.
// Who calls, for which tenant, with what rights: caller.h.
// Tickets and paths of other tenants are NOT_FOUND, exactly like unknown
// ones; a put into another tenant's path is PERMISSION_DENIED.
//
// Errors travel as gRPC codes: bad descriptors or bodies INVALID_ARGUMENT,
// unknown tickets NOT_FOUND, corrupt data INTERNAL. A full node (memory
// budget full and nothing can spill within the disk budget) fails the put
// with Arrow's CapacityError, whose message names used, budget and requested
// bytes of memory and disk; nothing of the put stays. Arrow C++ clients get
// CapacityError back (Flight sends the Arrow code in the x-arrow-status
// trailer), pyarrow raises FlightServerError. The call's gRPC status code is
// UNKNOWN: Arrow's gRPC transport (Arrow 26) turns a Status into a
// TransportStatusCode (TransportStatus::FromStatus: FlightStatusDetail codes,
// or KeyError/Invalid/Cancelled/NotImplemented/AlreadyExists) and that into
// a gRPC code; TransportStatusCode has no RESOURCE_EXHAUSTED, so nothing a
// handler returns becomes one, and the gRPC inside the pyarrow wheel is
// hidden, so no interceptor can rewrite it. What does reach the wire: the
// error carries gRPC's rich status, google.rpc.Status{code:
// RESOURCE_EXHAUSTED (8), message}, in the grpc-status-details-bin trailer
// (Flight's "extra info": FlightStatusDetail::extra_info() in C++,
// FlightError.extra_info in pyarrow).
//
//   ARROW_ASSIGN_OR_RAISE(auto node, DataNode::Start({.port = 0}));
//   // clients connect to node->location()
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <arrow/flight/types.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/flight/batch_store.h"
#include "flightdeck/flight/audit_log.h"
#include "flightdeck/flight/auth_config.h"
#include "flightdeck/flight/call_record.h"
#include "flightdeck/flight/tls.h"
#include "flightdeck/flight/exchange_transform.h"

namespace flightdeck::flight {

struct DataNodeOptions {
  /// Interface to listen on; loopback unless asked otherwise.
  std::string host = "127.0.0.1";
  /// 0 lets the kernel pick a free port (see DataNode::port()).
  int port = 0;
  /// The address put in every endpoint this node hands out, as
  /// "HOST[:PORT]" ("[v6]:PORT" for an IPv6 literal): what clients elsewhere
  /// dial, e.g. behind NAT or a proxy. Empty: `host` when it names one
  /// interface, else (0.0.0.0, ::) this machine's host name; the port
  /// defaults to the bound one. A "grpc+tls://" (or "grpc+tcp://") prefix
  /// sets the scheme endpoints name, for a node behind a proxy that
  /// terminates TLS; by default it is the node's own.
  std::string advertise;
  /// TLS (and mutual TLS) on the node's port; see tls.h. With TLS on, the
  /// node's locations are grpc+tls://.
  ServerTls tls;
  /// Who may call and what they may do (auth_config.h); null: no
  /// authentication, the tenant from the call header (development on
  /// loopback).
  std::shared_ptr<const AuthConfig> auth;
  /// Keys that sign the node's tickets (ticket_signer.h): every ticket it
  /// hands out is signed and only signed tickets are redeemed. Null with an
  /// auth config: the keys of `store.data_dir`/ticket.keys (made at first
  /// start, mode 0600), or a key made in memory without a data dir. Null
  /// without an auth config: plain tickets (development).
  std::shared_ptr<const KeyRing> ticket_keys;
  /// How long a signed ticket is good for; zero: as long as its dataset.
  std::chrono::milliseconds ticket_ttl{0};
  /// Told about every call when it ends (metrics); null: nobody.
  CallObserver call_observer;
  /// Where every call is recorded (audit_log.h); null: nowhere.
  std::shared_ptr<AuditLog> audit;
  /// Keep serving when the audit log cannot be written (default: refuse
  /// calls, UNAVAILABLE, until the node restarts with a writable log).
  bool audit_fail_open = false;
  /// Serve on an interface other than loopback without TLS and client
  /// authentication (mutual TLS). Off: Start refuses, saying why.
  bool insecure = false;
  /// SIGINT and SIGTERM shut the node down. Only for the process that owns
  /// the node (the CLI): it replaces those signal handlers.
  bool shutdown_on_signals = false;
  /// Memory budget, disk tier, compression, default TTL.
  BatchStoreOptions store;
  /// How often expired datasets are collected in the background (they are
  /// invisible from the moment they expire; this frees their memory).
  std::chrono::milliseconds gc_interval{10'000};
  /// What DoExchange runs (see exchange_transform.h). Empty: DoExchange
  /// fails with NotImplemented. Copied into the node; must be callable from
  /// any thread for as long as the node runs.
  ExchangeTransform exchange_transform;
};

/// The location endpoints advertise for `options` once `bound_port` is
/// bound (see DataNodeOptions::advertise). Invalid naming the option for a
/// malformed address. Exposed for tests.
arrow::Result<arrow::flight::Location> AdvertisedLocation(const DataNodeOptions& options,
                                                          int bound_port);

/// OK unless `options` serve an interface other than loopback without TLS
/// and client authentication (an auth config or mutual TLS) and without
/// `insecure`: then Invalid saying why and what to give.
arrow::Status CheckExposure(const DataNodeOptions& options);

/// A running Flight server. All methods are thread-safe.
class DataNode {
 public:
  /// Opens the store (recovering durable datasets), binds and starts serving
  /// on background threads. Fails as BatchStore::Open or when the address
  /// cannot be bound. Leaves process-wide malloc settings alone (a node
  /// process's allocation policy is set by its owner, e.g. `flightdeck node`);
  /// after drop/gc the node returns freed memory to the system (glibc
  /// malloc_trim) only while held plus kept bytes exceed the memory budget.
  static arrow::Result<std::unique_ptr<DataNode>> Start(DataNodeOptions options);

  /// Shutdown(), ignoring its status.
  ~DataNode();

  /// The port actually bound.
  int port() const;
  /// Where clients connect, as endpoints advertise it:
  /// grpc+tcp://host:port from DataNodeOptions::advertise.
  const arrow::flight::Location& location() const;

  /// Number of datasets currently held (all tenants).
  size_t dataset_count() const;

  /// The store's counters.
  StoreStats stats() const;

  /// Stops accepting calls, waits for running ones, and joins the server.
  /// Idempotent.
  arrow::Status Shutdown();

  /// Calls that start from now on authenticate and authorize with `auth`
  /// (SIGHUP in `flightdeck node`); calls and streams under way go on.
  /// Invalid when the node started without an auth config.
  arrow::Status ReloadAuth(std::shared_ptr<const AuthConfig> auth);

  /// Spill and durable files written from now on are encrypted with the
  /// newest key of `keys`, and files are read with the key their header
  /// names (key rotation: SIGHUP in `flightdeck node`). Invalid when the
  /// node started without keys or `keys` drops a key the store's files use.
  arrow::Status ReloadKeys(std::shared_ptr<const KeyRing> keys);

  /// Tickets issued from now on are signed with the newest key of `keys`,
  /// all of whose keys verify (rotation: SIGHUP in `flightdeck node`).
  /// Invalid when the node signs no tickets or `keys` drops a key in use.
  arrow::Status ReloadTicketKeys(std::shared_ptr<const KeyRing> keys);

  /// Blocks until the server stopped serving: after Shutdown(), or a signal
  /// when `shutdown_on_signals` is set.
  void Wait();

 private:
  struct Impl;
  explicit DataNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flightdeck::flight
