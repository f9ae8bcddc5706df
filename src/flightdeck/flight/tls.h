// flightdeck/flight/tls.h: TLS for the data plane, on both ends.
//
// A node serves TLS when it has a certificate and key (PEM files), and
// mutual TLS when it also has a client CA: then a client must present a
// certificate that CA signed. Clients verify the node against a CA file
// (or the system roots) and, for mutual TLS, present their own certificate.
// Locations say which transport a node speaks: grpc+tcp:// or grpc+tls://.
#pragma once

#include <string>

#include <arrow/flight/client.h>
#include <arrow/flight/server.h>
#include <arrow/result.h>
#include <arrow/status.h>

namespace flightdeck::flight {

/// The node's side. All empty: plaintext.
struct ServerTls {
  /// PEM certificate chain and its private key; both or neither.
  std::string cert_file;
  std::string key_file;
  /// PEM CA whose certificates clients must present (mutual TLS).
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty(); }
  bool mutual() const { return !client_ca_file.empty(); }
};

/// A client's side, for grpc+tls:// locations.
struct ClientTls {
  /// PEM CA that signed the nodes' certificates; empty: the system roots.
  std::string ca_file;
  /// The client's PEM certificate and key, for nodes that ask for one
  /// (mutual TLS); both or neither.
  std::string cert_file;
  std::string key_file;
  /// The name checked against the node's certificate instead of the
  /// location's host (e.g. when dialling an IP the certificate lacks).
  std::string server_name;

  bool any() const { return !ca_file.empty() || !cert_file.empty() || !server_name.empty(); }
};

/// The contents of a PEM file; IOError naming `what` (e.g. "--tls-cert")
/// and the path when it is missing, unreadable or holds no PEM block.
arrow::Result<std::string> ReadPemFile(const std::string& path, const std::string& what);

/// Checks `tls` (pairs complete, files readable PEM) and sets it on `options`.
arrow::Status ApplyServerTls(const ServerTls& tls, arrow::flight::FlightServerOptions* options);

/// Checks `tls` and sets it on `options`.
arrow::Status ApplyClientTls(const ClientTls& tls, arrow::flight::FlightClientOptions* options);

/// Whether `host` names only this machine (localhost, 127.0.0.0/8, ::1).
bool IsLoopbackHost(const std::string& host);

}  // namespace flightdeck::flight
