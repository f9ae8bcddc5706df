// flightdeck/temporal/testing/embedded_temporal.h: a real Temporal dev server
// (`temporal server start-dev --headless`) as a child process.
//
// Used by `flightdeck dev-server`, the demo and the integration tests. The
// server keeps its state in a SQLite file under `state_dir`, so stopping it
// and starting another on the same directory resumes every workflow. The
// child is killed if the process that started it dies.
//
//   ARROW_ASSIGN_OR_RAISE(auto server, EmbeddedTemporal::Start({}));
//   ARROW_ASSIGN_OR_RAISE(auto conn, Connection::Connect({.target = server->target()}));
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

namespace flightdeck::temporal {

struct EmbeddedTemporalOptions {
  /// The `temporal` CLI; empty uses DefaultTemporalBinary().
  std::string temporal_binary;
  /// Holds the SQLite file and the server log. Empty: a new temporary
  /// directory, removed when the server object is destroyed.
  std::string state_dir;
  /// Frontend gRPC port; 0 picks a free one.
  int port = 0;
  std::string ip = "127.0.0.1";
  /// Frontend HTTP API port and '/metrics' port; 0 picks a free one. The
  /// server runs headless (no Web UI, so no UI port). Each port this class
  /// picks comes from FindFreeTcpPort (common/net.h), which keeps it from
  /// every other process's bind(0) until the server binds it, so that dev
  /// servers started at once (parallel test runs) do not take each other's
  /// ports. Set these here rather than in extra_args, so that http_port()
  /// and metrics_port() stay true.
  int http_port = 0;
  int metrics_port = 0;
  /// The Web UI: off (headless) unless `ui`; then on `ui_port` (0 picks a
  /// free one), showing payloads through the codec server at
  /// `ui_codec_endpoint` when one is given (Temporal's codec-server API,
  /// e.g. `flightdeck codec-server`).
  bool ui = false;
  int ui_port = 0;
  std::string ui_codec_endpoint;
  /// Namespaces created at launch besides "default".
  std::vector<std::string> namespaces;
  /// Further arguments for start-dev (e.g. --dynamic-config-value K=V).
  /// Unless they set system.enableActivityEagerExecution themselves, the
  /// server is started with it true, so that workers that ask for eager
  /// activities (WorkerOptions::eager_activities) get them.
  std::vector<std::string> extra_args;
  /// How long to wait for the frontend to answer.
  std::chrono::milliseconds startup_timeout{std::chrono::seconds(90)};
  /// The server's own log level: debug, info, warn, error.
  std::string log_level = "warn";
};

class EmbeddedTemporal {
 public:
  /// Starts the server and returns once GetSystemInfo and
  /// DescribeNamespace("default") both answer. On failure the child is gone
  /// and the error quotes the end of its log.
  static arrow::Result<std::unique_ptr<EmbeddedTemporal>> Start(EmbeddedTemporalOptions options);

  /// Stop(), ignoring its status.
  ~EmbeddedTemporal();

  /// "127.0.0.1:<port>", for ConnectionOptions::target.
  const std::string& target() const;
  int port() const;
  /// The frontend HTTP API port and the '/metrics' port (see
  /// EmbeddedTemporalOptions), on the same ip as target().
  int http_port() const;
  int metrics_port() const;
  /// The Web UI's port; 0 when the server runs headless.
  int ui_port() const;
  pid_t pid() const;
  const std::string& state_dir() const;
  const std::string& db_path() const;
  const std::string& log_path() const;
  /// True while the server process runs.
  bool Running();

  /// SIGTERM, then SIGKILL after a grace period. Idempotent.
  arrow::Status Stop();
  /// SIGKILL now, for fault tests: the SQLite file stays as the crash left it.
  arrow::Status Kill();

 private:
  struct Impl;
  explicit EmbeddedTemporal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The `temporal` CLI to run: $FLIGHTDECK_TEMPORAL_BIN if set, else the one in
/// the venv this build was configured with, else "temporal" on PATH.
std::string DefaultTemporalBinary();

}  // namespace flightdeck::temporal
