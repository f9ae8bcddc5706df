// `flightdeck node`: runs an Arrow Flight data node until SIGINT/SIGTERM.
#include <iostream>

#include "flightdeck/cli/commands.h"
#include "flightdeck/flight/data_node.h"

namespace flightdeck::cli {

void AddNodeCommand(CLI::App& app) {
  auto options = std::make_shared<flight::DataNodeOptions>();
  CLI::App* cmd = app.add_subcommand("node", "Run an Arrow Flight data node");
  cmd->add_option("--host", options->host, "Interface to listen on")->capture_default_str();
  cmd->add_option("--port", options->port, "Port; 0 picks a free one")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->callback([options] {
    options->shutdown_on_signals = true;
    auto node = flight::DataNode::Start(*options);
    Check(node.status(), "cannot start the data node on " + options->host + ":" +
                             std::to_string(options->port));
    // The first stdout line is a contract: scripts and tests read the port from it.
    std::cout << "flightdeck node listening on " << (*node)->location().ToString() << std::endl;
    (*node)->Wait();
    Check((*node)->Shutdown(), "data node shutdown");
  });
}

}  // namespace flightdeck::cli
