// flightdeck/cli/demo_jaeger.h: the Jaeger `flightdeck demo --jaeger BIN`
// starts, so the demo's run has a trace to look at while it runs.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <arrow/result.h>

#include "flightdeck/common/subprocess.h"

namespace flightdeck::cli {

struct DemoJaeger {
  std::unique_ptr<Subprocess> process;
  /// What OTEL_EXPORTER_OTLP_ENDPOINT takes.
  std::string otlp_endpoint;
  /// The Jaeger UI (and query API).
  std::string ui;
};

/// Starts Jaeger v2 (`binary`) with memory storage, an OTLP/HTTP receiver
/// and its UI on free loopback ports, its config and log in `folder`; waits
/// until both listen. IOError naming the log when it does not start.
arrow::Result<DemoJaeger> StartDemoJaeger(const std::string& binary, const std::filesystem::path& folder);

}  // namespace flightdeck::cli
