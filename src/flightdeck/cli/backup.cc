// `flightdeck backup` (a running node copies its durable datasets to a URI)
// and `flightdeck restore` (a backup copied into a new node's data folder).
#include <iostream>

#include <nlohmann/json.hpp>

#include "flightdeck/cli/commands.h"
#include "flightdeck/flight/node_backup.h"
#include "flightdeck/flight/node_client.h"

namespace flightdeck::cli {

void AddBackupCommands(CLI::App& app) {
  auto node = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  CLI::App* backup = app.add_subcommand(
      "backup", "Have a data node copy its durable datasets (encrypted at rest) and manifest to a URI, "
                "incrementally");
  backup->add_option("--node", *node, "The node's location (grpc+tcp:// or grpc+tls://)")->required();
  backup->add_option("--to", *to,
                     "file:///ABSOLUTE/PATH or s3://BUCKET/PREFIX[?endpoint_override=HOST:PORT&scheme=http] "
                     "(the node's AWS credentials)")
      ->required();
  auto client_options = AddNodeClientOptions(backup);
  backup->callback([node, to, client_options] {
    Check(flight::CheckBackupUri(*to), "--to");
    UseNodeClient(*client_options);
    auto client = flight::NodeClient::For(*node);
    Check(client.status(), "node " + *node);
    auto done = (*client)->Action({}, "backup", nlohmann::json{{"to", *to}});
    Check(done.status(), "backup of " + *node);
    std::cout << done->dump() << std::endl;
  });

  auto from = std::make_shared<std::string>();
  auto data_dir = std::make_shared<std::string>();
  CLI::App* restore = app.add_subcommand(
      "restore", "Copy a backup into an empty data folder; a node started on it (with the same --key-file) serves "
                 "every dataset under its ticket again");
  restore->add_option("--from", *from, "The backup's URI, as `flightdeck backup --to` took it")->required();
  restore->add_option("--data-dir", *data_dir, "The new node's --data-dir (empty or missing)")->required();
  restore->callback([from, data_dir] {
    Check(flight::CheckBackupUri(*from), "--from");
    auto restored = flight::RestoreDurable(*from, *data_dir);
    flight::FinalizeBackupFilesystems();
    if (!restored.ok() && restored.status().IsInvalid()) throw CommandFailed(restored.status().message(), kExitUsage);
    Check(restored.status(), "restore from " + *from);
    std::cout << nlohmann::json{{"datasets", *restored}, {"data_dir", *data_dir}}.dump() << std::endl;
  });
}

}  // namespace flightdeck::cli
