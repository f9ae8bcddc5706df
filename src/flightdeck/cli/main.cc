// The `flightdeck` command: node, dev-server, demo (more come with later
// layers). Errors are printed in words; exit codes are in commands.h.
#include <iostream>
#include <string>

#include "flightdeck/cli/commands.h"
#include "flightdeck/common/logging.h"

namespace flightdeck::cli {

void Check(const arrow::Status& status, const std::string& what) {
  if (!status.ok()) throw CommandFailed(what + ": " + status.ToString());
}

}  // namespace flightdeck::cli

int main(int argc, char** argv) {
  using namespace flightdeck::cli;
  CLI::App app{"flightdeck: data pipelines on Temporal and Arrow Flight"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug, info, warn, error or off")
      ->capture_default_str();
  app.parse_complete_callback(
      [&] { flightdeck::SetLogLevel(flightdeck::ParseLogLevel(log_level)); });
  AddNodeCommand(app);
  AddDevServerCommand(app);
  AddDemoCommand(app);
  AddFrameQueryCommand(app);
  AddPipelineCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  } catch (const CommandFailed& e) {
    std::cerr << "flightdeck: error: " << e.what() << std::endl;
    return e.exit_code();
  }
  return kExitOk;
}
