// `flightdeck cluster members|watch`, and the cluster a spec's nodes come
// from (`run --cluster`) or a node registers in (`node --cluster`).
#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "flightdeck/cli/commands.h"
#include "flightdeck/cli/temporal_options.h"
#include "flightdeck/flight/cluster.h"
#include "flightdeck/pipeline/repair.h"
#include "flightdeck/temporal/client/client.h"

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

std::shared_ptr<ClusterFlags> AddClusterOptions(CLI::App* cmd, const std::string& help, bool required) {
  auto flags = std::make_shared<ClusterFlags>();
  auto* name = cmd->add_option("--cluster", flags->name, help);
  if (required) name->required();
  cmd->add_option("--cluster-ca", flags->ca_file, "PEM CA that signed etcd's certificate (etcds:// clusters; "
                                                  "default: the system's roots)")
      ->needs(name);
  cmd->add_option("--cluster-cert", flags->cert_file,
                  "PEM client certificate for an etcd that asks for one (etcds://, --client-cert-auth)")
      ->needs(name);
  cmd->add_option("--cluster-key", flags->key_file, "PEM private key of --cluster-cert")->needs(name);
  return flags;
}

flight::ClusterName ParseClusterOrExit(const ClusterFlags& flags) {
  auto cluster = flight::ParseClusterName(flags.name);
  if (!cluster.ok()) throw CommandFailed("--cluster: " + cluster.status().message(), kExitUsage);
  cluster->ca_file = flags.ca_file;
  cluster->cert_file = flags.cert_file;
  cluster->key_file = flags.key_file;
  const auto tls = flight::CheckClusterTls(*cluster);
  if (!tls.ok()) throw CommandFailed("--cluster " + flags.name + ": " + tls.message(), kExitUsage);
  return *cluster;
}

std::string SpecWithClusterNodes(const std::string& spec_text, bool names_nodes, const ClusterFlags& cluster) {
  const std::string& cluster_name = cluster.name;
  if (names_nodes) {
    throw CommandFailed("--cluster " + cluster_name + ": the spec names its nodes already; drop its 'nodes:' or "
                        "--cluster", kExitUsage);
  }
  auto members = flight::ClusterMembers(ParseClusterOrExit(cluster));
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

void AddRepairCommand(CLI::App& app) {
  struct Options {
    std::string id = "flightdeck-repair", queue = "flightdeck";
    int replicas = 2;
    double grace_s = 30, interval_s = 5;
    std::vector<std::string> tenants;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "repair", "Start flightdeck.Repair: it watches the cluster's nodes and, once one is gone for --grace, copies "
                "durable datasets held by fewer than --replicas live nodes back to that many");
  auto cluster = AddClusterOptions(cmd, "A cluster file, or etcd[s]://HOST:PORT[/PREFIX] (its members now)", true);
  cmd->add_option("--replicas", options->replicas, "Copies to keep")->check(CLI::Range(1, 16))->capture_default_str();
  cmd->add_option("--grace", options->grace_s, "Seconds a node may be down before it counts as gone")
      ->check(NonNegativeNumber())
      ->capture_default_str();
  cmd->add_option("--interval", options->interval_s, "Seconds between health checks")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd->add_option("--tenant", options->tenants, "Tenants whose datasets it repairs (default: default)");
  cmd->add_option("--task-queue", options->queue, "The workers' task queue")->capture_default_str();
  cmd->add_option("--id", options->id, "Workflow id")->capture_default_str();
  auto temporal_flags = AddTemporalOptions(cmd);
  cmd->callback([options, cluster, temporal_flags] {
    auto members = flight::ClusterMembers(ParseClusterOrExit(*cluster));
    Check(members.status(), "cluster " + cluster->name);
    if (members->empty()) throw CommandFailed("cluster " + cluster->name + " has no data node");
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& member : *members) nodes.push_back(member.location);
    const nlohmann::json input = {
        {"nodes", nodes},
        {"replicas", options->replicas},
        {"grace_ms", static_cast<int64_t>(options->grace_s * 1000)},
        {"interval_ms", static_cast<int64_t>(options->interval_s * 1000)},
        {"tenants", options->tenants.empty() ? std::vector<std::string>{"default"} : options->tenants},
        {"task_queue", options->queue}};
    auto client = ConnectClientOrExit(ResolveTemporalOrExit(*temporal_flags));
    auto started = client->StartWorkflow(
        {.id = options->id, .type = pipeline::kRepairWorkflow, .task_queue = options->queue}, input);
    Check(started.status(), "starting " + options->id);
    std::cout << "workflow id: " << options->id << "\n"
              << "watching " << nodes.size() << " nodes for " << options->replicas
              << " copies; `flightdeck status " << options->id << " -o json` shows its progress" << std::endl;
  });
}

void AddClusterCommands(CLI::App& app) {
  AddRepairCommand(app);
  CLI::App* cluster = app.add_subcommand("cluster", "Show the data nodes of a cluster (a file or etcd)");
  cluster->require_subcommand(1);
  CLI::App* members = cluster->add_subcommand("members", "Print the live members, one JSON object per line");
  auto listed = AddClusterOptions(members, "A cluster file, or etcd[s]://HOST:PORT[/PREFIX]", true);
  members->callback([listed] {
    auto found = flight::ClusterMembers(ParseClusterOrExit(*listed));
    Check(found.status(), "cluster " + listed->name);
    for (const auto& member : MembersJson(*found)) std::cout << member.dump() << "\n";
    std::cout.flush();
  });
  CLI::App* watch = cluster->add_subcommand(
      "watch", "Print the members as a JSON line {\"members\": [...]} at start and after every change, until "
               "SIGINT/SIGTERM");
  auto watched = AddClusterOptions(watch, "A cluster file, or etcd[s]://HOST:PORT[/PREFIX]", true);
  watch->callback([watched] {
    std::signal(SIGINT, OnWatchStop);
    std::signal(SIGTERM, OnWatchStop);
    std::mutex out;
    auto started = flight::ClusterWatch::Start(ParseClusterOrExit(*watched), [&out](const auto& members) {
      std::lock_guard<std::mutex> lock(out);
      std::cout << nlohmann::json{{"members", MembersJson(members)}}.dump() << std::endl;
    });
    Check(started.status(), "cluster " + watched->name);
    while (!watch_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  });
}

}  // namespace flightdeck::cli
