// flightdeck/cli/commands.h: the subcommands of the `flightdeck` binary.
//
// Each Add*Command registers its options on the CLI11 app and a callback that
// runs it. Callbacks throw CommandFailed to end with a message and an exit
// code; nothing else crosses this edge.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <arrow/status.h>

#include "flightdeck/flight/cluster.h"
#include "flightdeck/flight/exchange_transform.h"
#include "flightdeck/flight/tls.h"
#include "flightdeck/frame/engine.h"

namespace flightdeck::cli {

/// Exit codes scripts can rely on.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed
inline constexpr int kExitUsage = 2;    // bad command line

/// Ends the command with `message` on stderr and `exit_code`.
class CommandFailed : public std::runtime_error {
 public:
  CommandFailed(const std::string& message, int exit_code = kExitFailure)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

/// Option validators whose messages read well ("--rows: must be a number
/// greater than 0, not 0"); CLI11's own PositiveNumber names a range up to
/// DBL_MAX.
const CLI::Validator& PositiveNumber();
/// What `flightdeck --version` prints: flightdeck's, Arrow's and DuckDB's versions.
std::string VersionText();
const CLI::Validator& NonNegativeNumber();

/// Dev server arguments for short latencies, for the dev servers the CLI
/// starts (dev-server, demo): the history service's transfer queue reader
/// (what hands a newly scheduled workflow task to matching) is rate-limited
/// to 20 reads/s by default, so after its first burst every workflow task of
/// a short pipeline waited ~35 ms to be dispatched; 1000/s lifts that.
inline const std::vector<std::string>& LowLatencyDevServerArgs() {
  static const std::vector<std::string> args = {"--dynamic-config-value",
                                                "history.transferProcessorMaxPollRPS=1000"};
  return args;
}

/// Throws CommandFailed("<what>: <status>") unless `status` is OK.
void Check(const arrow::Status& status, const std::string& what);

/// How a command dials data nodes: TLS for grpc+tls:// locations and a
/// bearer token for nodes with an auth config.
struct NodeClientOptions {
  flight::ClientTls tls;
  std::string token_file;
};
/// The options of a command that dials data nodes: --tls-ca, --tls-cert,
/// --tls-key (mutual TLS), --node-tls-server-name and --token-file, each also
/// from FLIGHTDECK_TLS_CA, _CERT, _KEY, _SERVER_NAME, FLIGHTDECK_TOKEN_FILE;
/// the token itself may come from FLIGHTDECK_TOKEN (never a flag: the
/// process list would show it). The callback passes them to UseNodeClient.
std::shared_ptr<NodeClientOptions> AddNodeClientOptions(CLI::App* cmd);
/// Makes this process's node clients dial as `options` says; a bad file
/// ends the command with exit code 2.
void UseNodeClient(const NodeClientOptions& options);

/// The DoExchange hook of the data nodes this binary starts: the command text
/// ("select a, b * 2 as c where a > 1") applied with frame::ApplyTransform on
/// an engine leased from `engines` for the call (node.cc).
flight::ExchangeTransform FrameExchangeTransform(std::shared_ptr<frame::EnginePool> engines);

/// `count` engines for a node's exchanges: one thread each, `memory_limit`
/// bytes each, no file or network access from the client's SQL, spilling
/// under `data_dir` when given, encrypted with `encrypt_spill` (node.cc).
std::shared_ptr<frame::EnginePool> OpenExchangeEngines(int count, int64_t memory_limit,
                                                        const std::string& data_dir,
                                                        bool encrypt_spill = false);

/// The allocation policy of a process that runs a data node (`flightdeck
/// node`, `flightdeck demo`); call it first, before threads start (node.cc).
/// Process-wide, glibc only (elsewhere it does nothing): malloc uses one
/// arena, so memory one gRPC thread freed after a drop is found by the thread
/// receiving the next put instead of a new arena growing; blocks up to 64 MB
/// (received messages) come from the heap rather than fresh mmaps; and free()
/// never trims on its own. The node reuses freed memory for the next put and
/// gives it back itself after drop/gc once held plus kept bytes exceed its
/// memory budget (DataNode). Not thread-safe against concurrent mallopt calls.
void UseNodeProcessMemoryPolicy();

void AddNodeCommand(CLI::App& app);
void AddAuthCommands(CLI::App& app);
void AddAuditCommands(CLI::App& app);
void AddKeysCommands(CLI::App& app);
void AddCodecServerCommand(CLI::App& app);
void AddTimelineCommand(CLI::App& app);
void AddDevServerCommand(CLI::App& app);
void AddDemoCommand(CLI::App& app);
void AddFrameQueryCommand(CLI::App& app);
/// `backup` and `restore` (backup.cc).
void AddBackupCommands(CLI::App& app);
/// `cluster members` and `cluster watch` (cluster.cc).
void AddClusterCommands(CLI::App& app);
/// --cluster NAME and the TLS files of an etcds:// cluster.
struct ClusterFlags {
  std::string name;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};
/// Adds --cluster (described by `help`; `required`), --cluster-ca,
/// --cluster-cert and --cluster-key to `cmd`.
std::shared_ptr<ClusterFlags> AddClusterOptions(CLI::App* cmd, const std::string& help, bool required);
/// The cluster the flags name, with its TLS files checked; ends the command
/// (exit 2) when the name or a file is wrong.
flight::ClusterName ParseClusterOrExit(const ClusterFlags& flags);
/// The spec's text with `nodes:` appended from the live members of the
/// cluster (`run --cluster`); ends the command when the spec names nodes
/// itself (`names_nodes`), the name is bad (exit 2), or the cluster cannot
/// be read or has no member.
std::string SpecWithClusterNodes(const std::string& spec_text, bool names_nodes, const ClusterFlags& cluster);
/// worker, run, status, cancel, list (pipeline.cc).
void AddPipelineCommands(CLI::App& app);

}  // namespace flightdeck::cli
