// The `flightdeck` command: node, dev-server, demo (more come with later
// layers). Errors are printed in words; exit codes are in commands.h.
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>

#include <arrow/config.h>

#include "flightdeck/cli/commands.h"
#include "flightdeck/common/logging.h"
#include "flightdeck/flight/node_client.h"
#include "flightdeck/frame/engine.h"

namespace flightdeck::cli {

namespace {

CLI::Validator NumberAbove(double floor, bool inclusive, const std::string& words) {
  return CLI::Validator(
      [=](std::string& input) -> std::string {
        double value = 0;
        size_t used = 0;
        try {
          value = std::stod(input, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        const bool fits = used == input.size() && (inclusive ? value >= floor : value > floor);
        return fits ? std::string() : "must be " + words + ", not '" + input + "'";
      },
      inclusive ? "NONNEGATIVE" : "POSITIVE");
}

}  // namespace

const CLI::Validator& PositiveNumber() {
  static const CLI::Validator validator = NumberAbove(0, false, "a number greater than 0");
  return validator;
}

const CLI::Validator& NonNegativeNumber() {
  static const CLI::Validator validator = NumberAbove(0, true, "a number of 0 or more");
  return validator;
}

std::string VersionText() {
  std::string text = std::string("flightdeck ") + FLIGHTDECK_VERSION + "\nArrow " + arrow::GetBuildInfo().version_string;
  auto duckdb = flightdeck::frame::Engine::Version();
  text += "\nDuckDB " + (duckdb.ok() ? *duckdb : "(not loaded: " + duckdb.status().message() + ")");
  return text;
}

void Check(const arrow::Status& status, const std::string& what) {
  if (status.ok()) return;
  // Arrow spells StatusCode::ExecutionError "ExecutionError in Gandiva", a
  // library this program does not use: say nothing rather than that.
  std::string text = status.ToString();
  static const std::string kGandiva = "ExecutionError in Gandiva: ";
  for (size_t at = text.find(kGandiva); at != std::string::npos; at = text.find(kGandiva, at)) {
    text.erase(at, kGandiva.size());
  }
  throw CommandFailed(what + ": " + text);
}

std::shared_ptr<NodeClientOptions> AddNodeClientOptions(CLI::App* cmd) {
  auto options = std::make_shared<NodeClientOptions>();
  flight::ClientTls& tls = options->tls;
  cmd->add_option("--tls-ca", tls.ca_file, "PEM CA that signed the data nodes' certificates (grpc+tls:// nodes)")
      ->envname("FLIGHTDECK_TLS_CA");
  cmd->add_option("--tls-cert", tls.cert_file, "PEM client certificate for nodes that ask for one (mutual TLS)")
      ->envname("FLIGHTDECK_TLS_CERT");
  cmd->add_option("--tls-key", tls.key_file, "PEM private key of --tls-cert")->envname("FLIGHTDECK_TLS_KEY");
  cmd->add_option("--node-tls-server-name", tls.server_name,
                  "Name to check the nodes' certificates against instead of the location's host")
      ->envname("FLIGHTDECK_TLS_SERVER_NAME");
  cmd->add_option("--token-file", options->token_file,
                  "File holding the bearer token for data nodes with an auth config (or set FLIGHTDECK_TOKEN)")
      ->envname("FLIGHTDECK_TOKEN_FILE");
  return options;
}

void UseNodeClient(const NodeClientOptions& options) {
  const auto status = flight::NodeClient::UseTls(options.tls);
  if (!status.ok()) throw CommandFailed(status.message(), kExitUsage);
  std::string token;
  if (!options.token_file.empty()) {
    std::ifstream in(options.token_file);
    if (!in) throw CommandFailed("--token-file: cannot read '" + options.token_file + "'", kExitUsage);
    std::getline(in, token);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    if (token.empty()) throw CommandFailed("--token-file: '" + options.token_file + "' holds no token", kExitUsage);
  } else if (const char* env = std::getenv("FLIGHTDECK_TOKEN"); env != nullptr) {
    token = env;
  }
  flight::NodeClient::UseToken(std::move(token));
}

}  // namespace flightdeck::cli

int main(int argc, char** argv) {
  using namespace flightdeck::cli;
  // A peer that closes a TLS connection mid-write (an etcd refusing a
  // client without a certificate) must be an error of that call, not a
  // SIGPIPE that kills the process: OpenSSL writes to its sockets without
  // MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"flightdeck: data pipelines on Temporal and Arrow Flight"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] { return VersionText(); }, "Print the versions of flightdeck, Arrow and DuckDB");
  std::string log_level = std::getenv("FLIGHTDECK_LOG_LEVEL") ? std::getenv("FLIGHTDECK_LOG_LEVEL") : "info";
  app.add_option("--log-level", log_level, "debug, info, warn, error or off (FLIGHTDECK_LOG_LEVEL)")
      ->capture_default_str();
  std::string log_format = std::getenv("FLIGHTDECK_LOG_FORMAT") ? std::getenv("FLIGHTDECK_LOG_FORMAT") : "text";
  app.add_option("--log-format", log_format,
                 "text, or json: one JSON object per line with the workflow and run id of the task at hand "
                 "(FLIGHTDECK_LOG_FORMAT)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.parse_complete_callback([&] {
    flightdeck::SetLogLevel(flightdeck::ParseLogLevel(log_level));
    flightdeck::SetLogFormat(log_format == "json" ? flightdeck::LogFormat::kJson : flightdeck::LogFormat::kText);
  });
  AddNodeCommand(app);
  AddAuthCommands(app);
  AddAuditCommands(app);
  AddKeysCommands(app);
  AddCodecServerCommand(app);
  AddTimelineCommand(app);
  AddDevServerCommand(app);
  AddDemoCommand(app);
  AddFrameQueryCommand(app);
  AddPipelineCommands(app);
  AddClusterCommands(app);
  AddBackupCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RequiredError& e) {
    // CLI11 reports a missing subcommand before words it did not expect:
    // `flightdeck launch` would say "A subcommand is required".
    if (app.get_subcommands().empty() && !app.remaining().empty()) {
      std::cerr << "flightdeck: unknown command '" << app.remaining().front()
                << "'; run flightdeck --help for the commands" << std::endl;
      return kExitUsage;
    }
    app.exit(e);
    return kExitUsage;
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  } catch (const CommandFailed& e) {
    std::cerr << "flightdeck: error: " << e.what() << std::endl;
    return e.exit_code();
  }
  return kExitOk;
}
