// flightdeck/flight/data_node.h: the Arrow Flight data node.
//
// A DataNode holds datasets of record batches and serves them over Flight:
// DoPut stores the stream sent for a path descriptor, GetFlightInfo and
// ListFlights describe what is held (rows, bytes, schema, an endpoint on this
// node), DoGet streams a dataset back by ticket. A dataset becomes visible
// only once its DoPut stream ended successfully.
//
//   ARROW_ASSIGN_OR_RAISE(auto node, DataNode::Start({.port = 0}));
//   // clients connect to node->location()
#pragma once

#include <memory>
#include <string>

#include <arrow/flight/types.h>
#include <arrow/result.h>
#include <arrow/status.h>

namespace flightdeck::flight {

struct DataNodeOptions {
  /// Interface to listen on; loopback unless asked otherwise.
  std::string host = "127.0.0.1";
  /// 0 lets the kernel pick a free port (see DataNode::port()).
  int port = 0;
  /// SIGINT and SIGTERM shut the node down. Only for the process that owns
  /// the node (the CLI): it replaces those signal handlers.
  bool shutdown_on_signals = false;
};

/// A running Flight server. All methods are thread-safe.
class DataNode {
 public:
  /// Binds and starts serving on background threads.
  static arrow::Result<std::unique_ptr<DataNode>> Start(DataNodeOptions options);

  /// Shutdown(), ignoring its status.
  ~DataNode();

  /// The port actually bound.
  int port() const;
  /// Where clients connect: grpc+tcp://host:port.
  const arrow::flight::Location& location() const;

  /// Number of datasets currently held.
  size_t dataset_count() const;

  /// Stops accepting calls, waits for running ones, and joins the server.
  /// Idempotent.
  arrow::Status Shutdown();

  /// Blocks until the server stopped serving: after Shutdown(), or a signal
  /// when `shutdown_on_signals` is set.
  void Wait();

 private:
  struct Impl;
  explicit DataNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flightdeck::flight
