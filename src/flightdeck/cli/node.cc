// `flightdeck node`: runs an Arrow Flight data node until SIGINT/SIGTERM.
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <thread>

#ifdef __GLIBC__  // defined by the standard headers above
#include <malloc.h>
#endif

#include "flightdeck/cli/commands.h"
#include "flightdeck/flight/cluster.h"
#include "flightdeck/flight/node_backup.h"
#include "flightdeck/cli/metrics_options.h"
#include "flightdeck/cli/tracing_options.h"
#include "flightdeck/common/file_encryption.h"
#include "flightdeck/common/logging.h"
#include "flightdeck/flight/data_node.h"
#include "flightdeck/frame/engine.h"
#include "flightdeck/frame/transform.h"

namespace flightdeck::cli {

namespace {

// A transform's output, holding its engine's lease until it is closed.
class LeasedReader : public arrow::RecordBatchReader {
 public:
  LeasedReader(frame::EnginePool::Lease lease, std::unique_ptr<arrow::RecordBatchReader> inner)
      : lease_(std::move(lease)), inner_(std::move(inner)) {}
  ~LeasedReader() override { inner_.reset(); }
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override { return inner_->ReadNext(batch); }
  arrow::Status Close() override { return inner_->Close(); }

 private:
  frame::EnginePool::Lease lease_;
  std::unique_ptr<arrow::RecordBatchReader> inner_;
};

}  // namespace

flight::ExchangeTransform FrameExchangeTransform(std::shared_ptr<frame::EnginePool> engines) {
  return [engines](std::string_view command, std::shared_ptr<arrow::RecordBatchReader> input)
             -> arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> {
    // Each exchange has an engine to itself: a client's SQL sees no other
    // client's streams, and the engines cannot read or write files.
    auto lease = engines->Acquire();
    ARROW_ASSIGN_OR_RAISE(auto reader, frame::ApplyTransform(std::move(input), command, lease.engine()));
    return std::make_unique<LeasedReader>(std::move(lease), std::move(reader));
  };
}

std::shared_ptr<frame::EnginePool> OpenExchangeEngines(int count, int64_t memory_limit, const std::string& data_dir,
                                                        bool encrypt_spill) {
  frame::EngineOptions options;
  options.encrypt_spill = encrypt_spill;
  options.threads = 1;  // an exchange streams row by row, in order
  options.memory_limit = memory_limit;
  options.external_access = false;
  // Under the data directory when it can hold one; otherwise (the node
  // then refuses the data directory itself, with its own message) a
  // temporary folder.
  std::error_code ec;
  if (!data_dir.empty() && std::filesystem::create_directories(data_dir + "/exchange-spill", ec) | !ec) {
    options.spill_directory = data_dir + "/exchange-spill";
  }
  auto pool = frame::EnginePool::Open(count, options);
  Check(pool.status(), "opening the exchange engines");
  return std::shared_ptr<frame::EnginePool>(std::move(*pool));
}

void UseNodeProcessMemoryPolicy() {
#ifdef __GLIBC__
  // Fixed thresholds (this also stops glibc's dynamic adjustment of them).
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_ARENA_MAX, 1);
  ::mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
}

namespace {

std::atomic<bool> reload_requested{false};
std::atomic<bool> reload_stop{false};

extern "C" void OnSighup(int) { reload_requested = true; }

// One key file reloaded into the node by `apply`: logged either way, and a
// file that does not load or is refused leaves the keys in use.
void ReloadKeyFile(const std::string& path, const char* what,
                   const std::function<arrow::Status(std::shared_ptr<const KeyRing>)>& apply) {
  if (path.empty()) return;
  auto loaded = KeyRing::Load(path);
  auto st = loaded.ok() ? apply(*loaded) : loaded.status();
  if (st.ok()) {
    FD_LOG(kInfo) << "SIGHUP: reloaded the " << what << " " << path << "; from now on key '"
                  << (*loaded)->Newest().id << "' is used";
  } else {
    FD_LOG(kError) << "SIGHUP: keeping the " << what << " in use: " << st.message();
  }
}

// Reloads the auth config, the ticket keys and the at-rest key file
// (whichever the node was started with) whenever SIGHUP arrives, until
// reload_stop. One that does not load is reported and the node keeps the one
// it has.
std::thread ReloadOnSighup(flight::DataNode* node, std::string auth_path, std::string key_path,
                           std::string ticket_key_path) {
  std::signal(SIGHUP, OnSighup);
  return std::thread([node, auth_path, key_path, ticket_key_path] {
    while (!reload_stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!reload_requested.exchange(false)) continue;
      if (!auth_path.empty()) {
        auto loaded = flight::AuthConfig::Load(auth_path);
        auto st = loaded.ok() ? node->ReloadAuth(*loaded) : loaded.status();
        if (st.ok()) {
          FD_LOG(kInfo) << "SIGHUP: reloaded the auth config " << auth_path;
        } else {
          FD_LOG(kError) << "SIGHUP: keeping the auth config in use: " << st.message();
        }
      }
      ReloadKeyFile(ticket_key_path, "ticket keys", [node](auto keys) { return node->ReloadTicketKeys(keys); });
      ReloadKeyFile(key_path, "at-rest keys", [node](auto keys) { return node->ReloadKeys(keys); });
    }
  });
}

}  // namespace

void AddNodeCommand(CLI::App& app) {
  auto options = std::make_shared<flight::DataNodeOptions>();
  auto compression = std::make_shared<std::string>("none");
  auto ttl_seconds = std::make_shared<double>(0);
  CLI::App* cmd = app.add_subcommand("node", "Run an Arrow Flight data node");
  cmd->add_option("--host", options->host, "Interface to listen on")->capture_default_str();
  cmd->add_option("--port", options->port, "Port; 0 picks a free one")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--advertise", options->advertise,
                  "[grpc+tls://]HOST[:PORT] that endpoints hand to clients (default: --host when it names "
                  "one interface, else this machine's host name; the bound port; the scheme of a node behind a "
                  "TLS-terminating proxy is grpc+tls://)");
  cmd->add_option("--memory-budget", options->store.memory_budget_bytes,
                  "Bytes of record batches held in memory (e.g. 512MB, 8GB; 0: half the "
                  "physical memory); beyond it the least recently used datasets spill to "
                  "--data-dir")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  cmd->add_option("--data-dir", options->store.data_dir,
                  "Directory of the disk tier and durable datasets (recovered on restart); "
                  "without it nothing spills and nothing can be persisted");
  cmd->add_option("--disk-budget", options->store.disk_budget_bytes,
                  "Bytes the disk tier's files (spilled and durable) may occupy (e.g. 20GB; 0: "
                  "no limit). When memory and disk are both full, puts fail with CapacityError")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  cmd->add_option("--compression", *compression, "Compression of disk tier files")
      ->check(CLI::IsMember({"none", "lz4", "zstd"}))
      ->capture_default_str();
  cmd->add_option("--default-ttl", *ttl_seconds,
                  "Seconds a dataset lives unless its put says otherwise; 0 forever")
      ->check(NonNegativeNumber())
      ->capture_default_str();
  auto exchange_slots = std::make_shared<int>(4);
  auto exchange_memory = std::make_shared<int64_t>(int64_t{256} << 20);
  cmd->add_option("--exchange-slots", *exchange_slots,
                  "DoExchange transforms run at once, each on an engine of its own (more wait)")
      ->check(PositiveNumber())
      ->capture_default_str();
  cmd->add_option("--exchange-memory", *exchange_memory,
                  "Memory limit of each exchange engine (e.g. 256MB); beyond it they spill to "
                  "--data-dir")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  auto gc_seconds = std::make_shared<double>(10);
  auto metrics_flags = AddMetricsOptions(cmd);
  cmd->add_option("--tls-cert", options->tls.cert_file, "PEM certificate chain: serve TLS (grpc+tls://)");
  cmd->add_option("--tls-key", options->tls.key_file, "PEM private key of --tls-cert");
  cmd->add_option("--tls-client-ca", options->tls.client_ca_file,
                  "PEM CA whose certificates clients must present (mutual TLS)");
  auto auth_config = std::make_shared<std::string>();
  cmd->add_option("--auth-config", *auth_config,
                  "YAML file of principals (hashed tokens and passwords), roles and bindings; every call must "
                  "then authenticate. Reloaded on SIGHUP");
  auto audit_log = std::make_shared<std::string>();
  auto audit_key = std::make_shared<std::string>();
  cmd->add_option("--audit-log", *audit_log,
                  "Append one tamper-evident JSON line per call to this file (`flightdeck audit verify` checks it)");
  cmd->add_option("--audit-key-file", *audit_key,
                  "The audit log's HMAC key (default: the log's path + .key, made when missing)");
  cmd->add_flag("--audit-fail-open", options->audit_fail_open,
                "Keep serving when the audit log cannot be written (default: refuse calls)");
  auto ticket_key_file = std::make_shared<std::string>();
  auto ticket_ttl_seconds = std::make_shared<double>(0);
  cmd->add_option("--ticket-key-file", *ticket_key_file,
                  "Sign every ticket the node hands out (HMAC-SHA256) with the newest key of this key file and "
                  "redeem signed tickets only (default with --auth-config: DATA_DIR/ticket.keys, made when "
                  "missing)");
  cmd->add_option("--ticket-ttl", *ticket_ttl_seconds,
                  "Seconds a signed ticket is good for; 0: as long as its dataset")
      ->check(NonNegativeNumber())
      ->capture_default_str();
  auto key_file = std::make_shared<std::string>();
  cmd->add_option("--key-file", *key_file,
                  "Encrypt spill and durable files at rest (AES-256-GCM) with the newest key of this file "
                  "(`flightdeck keys add FILE`); older keys still read older files. Reloaded on SIGHUP");
  cmd->add_flag("--insecure", options->insecure,
                "Serve an interface other than loopback without TLS and client authentication");
  cmd->add_option("--gc-interval", *gc_seconds,
                  "Seconds between background collections of expired datasets")
      ->check(PositiveNumber())
      ->capture_default_str();
  auto weight = std::make_shared<double>(1.0);
  auto lease_ttl = std::make_shared<int>(5);
  auto cluster = AddClusterOptions(cmd,
                                   "Register in this etcd cluster (etcd[s]://HOST:PORT[/PREFIX]) under a lease "
                                   "renewed every third of --lease-ttl, as the --advertise location; revoked on "
                                   "shutdown",
                                   false);
  cmd->add_option("--weight", *weight, "This node's capacity in placement, relative to the others' (with --cluster)")
      ->check(PositiveNumber())
      ->capture_default_str();
  cmd->add_option("--lease-ttl", *lease_ttl,
                  "Seconds after which a node that stopped renewing leaves the cluster (with --cluster)")
      ->check(CLI::Range(2, 3600))
      ->capture_default_str();
  cmd->callback([options, compression, ttl_seconds, gc_seconds, exchange_slots, exchange_memory, auth_config,
                 audit_log, audit_key, key_file, ticket_key_file, ticket_ttl_seconds, metrics_flags, cluster,
                 weight, lease_ttl] {
    std::optional<flight::ClusterName> cluster_name;
    if (!cluster->name.empty()) {
      const flight::ClusterName parsed_cluster = ParseClusterOrExit(*cluster);
      if (parsed_cluster.kind != flight::ClusterName::Kind::kEtcd) {
        throw CommandFailed("--cluster: a node registers in etcd (etcd[s]://HOST:PORT[/PREFIX]); a cluster file "
                            "lists its nodes itself", kExitUsage);
      }
      cluster_name = parsed_cluster;
    }
    if (!ticket_key_file->empty()) {
      auto keys = KeyRing::Load(*ticket_key_file);
      if (!keys.ok()) throw CommandFailed("--ticket-key-file: " + keys.status().message(), kExitUsage);
      options->ticket_keys = *keys;
    }
    if (*ticket_ttl_seconds > 0 && !options->ticket_keys && auth_config->empty()) {
      throw CommandFailed("--ticket-ttl needs signed tickets: --ticket-key-file or --auth-config", kExitUsage);
    }
    options->ticket_ttl = std::chrono::milliseconds(static_cast<int64_t>(*ticket_ttl_seconds * 1000));
    if (!audit_log->empty()) {
      auto opened = flight::AuditLog::Open(*audit_log, audit_key->empty() ? *audit_log + ".key" : *audit_key);
      Check(opened.status(), "--audit-log");
      options->audit = std::shared_ptr<flight::AuditLog>(std::move(*opened));
    } else if (!audit_key->empty() || options->audit_fail_open) {
      throw CommandFailed("--audit-key-file and --audit-fail-open need --audit-log", kExitUsage);
    }
    if (!auth_config->empty()) {
      auto loaded = flight::AuthConfig::Load(*auth_config);
      if (!loaded.ok()) throw CommandFailed(loaded.status().message(), kExitUsage);
      options->auth = *loaded;
    }
    if (!key_file->empty()) {
      if (options->store.data_dir.empty()) {
        throw CommandFailed("--key-file needs --data-dir: only the disk tier is encrypted", kExitUsage);
      }
      auto keys = KeyRing::Load(*key_file);
      if (!keys.ok()) throw CommandFailed("--key-file: " + keys.status().message(), kExitUsage);
      options->store.keys = *keys;
    }
    UseNodeProcessMemoryPolicy();
    MetricsEndpoint metrics = StartMetricsOrExit(*metrics_flags);
    std::shared_ptr<observe::Tracer> tracer = StartTracerOrExit("flightdeck-node", metrics.metrics);
    options->call_observer = BothObservers(NodeCallMetrics(metrics.metrics), NodeCallSpans(tracer));
    options->shutdown_on_signals = true;
    options->exchange_transform =
        FrameExchangeTransform(OpenExchangeEngines(*exchange_slots, *exchange_memory, options->store.data_dir,
                                                  options->store.keys != nullptr));
    auto parsed = flight::ParseDiskCompression(*compression);
    Check(parsed.status(), "--compression");
    options->store.compression = *parsed;
    options->store.default_ttl =
        std::chrono::milliseconds(static_cast<int64_t>(*ttl_seconds * 1000));
    options->gc_interval = std::chrono::milliseconds(static_cast<int64_t>(*gc_seconds * 1000));
    auto node = flight::DataNode::Start(*options);
    Check(node.status(), "cannot start the data node on " + options->host + ":" +
                             std::to_string(options->port));
    // The first stdout line is a contract: scripts and tests read the port from it.
    std::cout << "flightdeck node listening on " << (*node)->location().ToString() << std::endl;
    if (metrics.server) {
      ObserveNodeStore(*metrics.metrics, node->get());
      std::cout << "flightdeck metrics at http://" << metrics_flags->host << ":" << metrics.server->port()
                << "/metrics" << std::endl;
    }
    std::unique_ptr<flight::ClusterRegistration> registration;
    if (cluster_name) {
      auto registered = flight::ClusterRegistration::Start(
          *cluster_name, {(*node)->location().ToString(), *weight}, std::chrono::seconds(*lease_ttl));
      Check(registered.status(), "registering in cluster " + cluster->name);
      registration = std::move(*registered);
      std::cout << "flightdeck node registered in " << cluster->name << std::endl;
    }
    std::thread reloader;
    // The ticket keys given, or those a node with an auth config keeps in its data dir.
    std::string ticket_keys = *ticket_key_file;
    if (ticket_keys.empty() && !auth_config->empty() && !options->store.data_dir.empty()) {
      ticket_keys = (std::filesystem::path(options->store.data_dir) / "ticket.keys").string();
    }
    if (!auth_config->empty() || !key_file->empty() || !ticket_keys.empty()) {
      reloader = ReloadOnSighup(node->get(), *auth_config, *key_file, ticket_keys);
    }
    (*node)->Wait();
    registration.reset();  // leaves the cluster before the node stops serving
    reload_stop = true;
    if (reloader.joinable()) reloader.join();
    metrics.server.reset();  // its scrape hook reads the node
    Check((*node)->Shutdown(), "data node shutdown");
    flight::FinalizeBackupFilesystems();  // Arrow's S3 client, if a backup used it
  });
}

}  // namespace flightdeck::cli
