// `flightdeck node`: runs an Arrow Flight data node until SIGINT/SIGTERM.
#include <iostream>
#include <limits>

#ifdef __GLIBC__  // defined by the standard headers above
#include <malloc.h>
#endif

#include "flightdeck/cli/commands.h"
#include "flightdeck/flight/data_node.h"
#include "flightdeck/frame/transform.h"

namespace flightdeck::cli {

flight::ExchangeTransform FrameExchangeTransform() {
  return [](std::string_view command, std::shared_ptr<arrow::RecordBatchReader> input)
             -> arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> {
    return frame::ApplyTransform(std::move(input), command);
  };
}

void UseNodeProcessMemoryPolicy() {
#ifdef __GLIBC__
  // Fixed thresholds (this also stops glibc's dynamic adjustment of them).
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_ARENA_MAX, 1);
  ::mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
}

void AddNodeCommand(CLI::App& app) {
  auto options = std::make_shared<flight::DataNodeOptions>();
  auto compression = std::make_shared<std::string>("none");
  auto ttl_seconds = std::make_shared<double>(0);
  CLI::App* cmd = app.add_subcommand("node", "Run an Arrow Flight data node");
  cmd->add_option("--host", options->host, "Interface to listen on")->capture_default_str();
  cmd->add_option("--port", options->port, "Port; 0 picks a free one")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
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
  auto gc_seconds = std::make_shared<double>(10);
  cmd->add_option("--gc-interval", *gc_seconds,
                  "Seconds between background collections of expired datasets")
      ->check(PositiveNumber())
      ->capture_default_str();
  cmd->callback([options, compression, ttl_seconds, gc_seconds] {
    UseNodeProcessMemoryPolicy();
    options->shutdown_on_signals = true;
    options->exchange_transform = FrameExchangeTransform();
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
    (*node)->Wait();
    Check((*node)->Shutdown(), "data node shutdown");
  });
}

}  // namespace flightdeck::cli
