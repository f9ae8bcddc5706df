// flightdeck/temporal/client/connection.h: one gRPC channel to a Temporal
// frontend, with the metadata every call must carry.
//
// A Connection is shared (std::shared_ptr) by clients and workers. It sets the
// headers the server expects (client-name, client-version, temporal-namespace,
// authorization for API keys) on each ClientContext it makes, raises the
// receive limit to 128 MiB, and speaks TLS or mTLS when asked.
//
//   ARROW_ASSIGN_OR_RAISE(auto conn, Connection::Connect({.target = "127.0.0.1:7233"}));
//   ARROW_ASSIGN_OR_RAISE(auto info, conn->GetSystemInfo());
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/temporal/client/metrics_handler.h"
#include "temporal/api/workflowservice/v1/service.grpc.pb.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace flightdeck::temporal {

/// Name and version sent in the client-name / client-version headers.
inline constexpr char kSdkName[] = "temporal-cpp";
inline constexpr char kSdkVersion[] = "0.1.0";

struct TlsOptions {
  /// PEM roots to verify the server with; empty uses the system roots.
  std::string server_root_ca_pem;
  /// Overrides the name checked against the server certificate (SNI).
  std::string server_name_override;
  /// Client certificate chain and key (PEM) for mTLS; both or neither.
  std::string client_cert_pem;
  std::string client_private_key_pem;
};

struct ConnectionOptions {
  /// host:port of the frontend.
  std::string target = "127.0.0.1:7233";
  /// Shown in history events; empty gives "<pid>@<hostname>".
  std::string identity;
  /// Plaintext when unset. API keys require TLS.
  std::optional<TlsOptions> tls;
  /// Sent as "authorization: Bearer <api_key>" when not empty.
  std::string api_key;
  /// Deadline of ordinary (non-poll) calls.
  std::chrono::milliseconds rpc_timeout{std::chrono::seconds(10)};
  /// Where the client metrics of every call go (temporal_request, ...,
  /// metrics_handler.h), counted by a gRPC interceptor; null: nowhere.
  std::shared_ptr<MetricsHandler> metrics;
};

/// A channel plus the WorkflowService stub. Thread-safe: the stub and
/// NewContext may be used from any number of threads at once.
class Connection {
 public:
  /// Creates the channel. Does not contact the server (see WaitForReady).
  /// Fails with Invalid on inconsistent options (API key without TLS, half an
  /// mTLS pair).
  static arrow::Result<std::shared_ptr<Connection>> Connect(ConnectionOptions options);

  ~Connection();

  const ConnectionOptions& options() const;
  const std::string& identity() const;

  /// The generated stub. Valid as long as this Connection.
  ::temporal::api::workflowservice::v1::WorkflowService::Stub& workflow_service();

  /// A context with our metadata, `temporal-namespace` set to `ns` (when not
  /// empty), and a deadline `timeout` from now (the connection's rpc_timeout
  /// when zero).
  std::unique_ptr<grpc::ClientContext> NewContext(
      std::string_view ns, std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const;

  /// GetSystemInfo, once.
  arrow::Result<::temporal::api::workflowservice::v1::GetSystemInfoResponse> GetSystemInfo();

  /// Retries GetSystemInfo until it succeeds or `timeout` passes; the error
  /// then names the target and the last failure.
  arrow::Status WaitForReady(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// "<pid>@<hostname>", the conventional worker and client identity.
std::string DefaultIdentity();

}  // namespace flightdeck::temporal
