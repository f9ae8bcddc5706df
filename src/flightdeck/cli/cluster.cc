// `flightdeck cluster members|watch`, and the cluster a spec's nodes come
// from (`run --cluster`) or a node registers in (`node --cluster`).
#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "flightdeck/cli/commands.h"
#include "flightdeck/flight/cluster.h"

namespace flightdeck::cli {
namespace {

std::atomic<bool> watch_stop{false};
void OnWatchStop(int) { watch_stop = true; }

nlohmann::json MembersJson(const std::vector<flight::PlacementNode>& members) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& member : members) out.push_back({{"location", member.location}, {"weight", member.weight}});
  return out;
}

}  // namespace

flight::ClusterName ParseClusterOrExit(const std::string& name) {
  auto cluster = flight::ParseClusterName(name);
  if (!cluster.ok()) throw CommandFailed("--cluster: " + cluster.status().message(), kExitUsage);
  return *cluster;
}

std::string SpecWithClusterNodes(const std::string& spec_text, bool names_nodes, const std::string& cluster_name) {
  if (names_nodes) {
    throw CommandFailed("--cluster " + cluster_name + ": the spec names its nodes already; drop its 'nodes:' or "
                        "--cluster", kExitUsage);
  }
  auto members = flight::ClusterMembers(ParseClusterOrExit(cluster_name));
  Check(members.status(), "cluster " + cluster_name);
  if (members->empty()) throw CommandFailed("cluster " + cluster_name + " has no live data node");
  // Appended, so that every line of the spec keeps its number in errors.
  std::string nodes = "\nnodes:\n";
  for (const auto& member : *members) {
    nodes += "  - {location: " + nlohmann::json(member.location).dump() +
             ", weight: " + nlohmann::json(member.weight).dump() + "}\n";
  }
  std::string text = spec_text;
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text + nodes;
}

void AddClusterCommands(CLI::App& app) {
  CLI::App* cluster = app.add_subcommand("cluster", "Show the data nodes of a cluster (a file or etcd)");
  cluster->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  CLI::App* members = cluster->add_subcommand("members", "Print the live members, one JSON object per line");
  members->add_option("--cluster", *name, "A cluster file, or etcd://HOST:PORT[/PREFIX]")->required();
  members->callback([name] {
    auto found = flight::ClusterMembers(ParseClusterOrExit(*name));
    Check(found.status(), "cluster " + *name);
    for (const auto& member : MembersJson(*found)) std::cout << member.dump() << "\n";
    std::cout.flush();
  });
  CLI::App* watch = cluster->add_subcommand(
      "watch", "Print the members as a JSON line {\"members\": [...]} at start and after every change, until "
               "SIGINT/SIGTERM");
  watch->add_option("--cluster", *name, "A cluster file, or etcd://HOST:PORT[/PREFIX]")->required();
  watch->callback([name] {
    std::signal(SIGINT, OnWatchStop);
    std::signal(SIGTERM, OnWatchStop);
    std::mutex out;
    auto started = flight::ClusterWatch::Start(ParseClusterOrExit(*name), [&out](const auto& members) {
      std::lock_guard<std::mutex> lock(out);
      std::cout << nlohmann::json{{"members", MembersJson(members)}}.dump() << std::endl;
    });
    Check(started.status(), "cluster " + *name);
    while (!watch_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  });
}

}  // namespace flightdeck::cli
