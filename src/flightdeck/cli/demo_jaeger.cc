#include "flightdeck/cli/demo_jaeger.h"

#include <chrono>
#include <thread>

#include "flightdeck/common/durable_file.h"
#include "flightdeck/common/net.h"

namespace flightdeck::cli {

arrow::Result<DemoJaeger> StartDemoJaeger(const std::string& binary, const std::filesystem::path& folder) {
  ARROW_ASSIGN_OR_RAISE(int otlp_port, FindFreeTcpPort());
  ARROW_ASSIGN_OR_RAISE(int ui_port, FindFreeTcpPort());
  ARROW_ASSIGN_OR_RAISE(int grpc_port, FindFreeTcpPort());
  ARROW_ASSIGN_OR_RAISE(int health_port, FindFreeTcpPort());
  const auto address = [](int port) { return "127.0.0.1:" + std::to_string(port); };
  // The all-in-one setup, reduced to what the demo uses, on our ports.
  const std::string config =
      "service:\n"
      "  extensions: [jaeger_storage, jaeger_query, healthcheckv2]\n"
      "  pipelines:\n"
      "    traces: {receivers: [otlp], processors: [batch], exporters: [jaeger_storage_exporter]}\n"
      "  telemetry: {metrics: {level: none}, traces: {level: none}, logs: {level: warn}}\n"
      "extensions:\n"
      "  jaeger_query:\n"
      "    storage: {traces: memstore}\n"
      "    http: {endpoint: " + address(ui_port) + "}\n"
      "    grpc: {endpoint: " + address(grpc_port) + "}\n"
      "  jaeger_storage: {backends: {memstore: {memory: {max_traces: 10000}}}}\n"
      "  healthcheckv2: {use_v2: true, http: {endpoint: " + address(health_port) + "}}\n"
      "receivers:\n"
      "  otlp: {protocols: {http: {endpoint: " + address(otlp_port) + "}}}\n"
      "processors:\n"
      "  batch: {timeout: 100ms}\n"
      "exporters:\n"
      "  jaeger_storage_exporter: {trace_storage: memstore}\n";
  const std::filesystem::path config_path = folder / "jaeger.yaml";
  const std::filesystem::path log_path = folder / "jaeger.log";
  ARROW_RETURN_NOT_OK(WriteFileAtomically(config_path.string(), config));
  DemoJaeger jaeger;
  // Jaeger would trace itself to localhost:4317 unless told not to.
  ARROW_ASSIGN_OR_RAISE(jaeger.process,
                        Subprocess::Start({.argv = {binary, "--config", config_path.string()},
                                           .log_path = log_path.string(),
                                           .env = {{"OTEL_SDK_DISABLED", "true"}, {"OTEL_TRACES_EXPORTER", "none"}}}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!TcpPortAcceptsConnections("127.0.0.1", otlp_port) || !TcpPortAcceptsConnections("127.0.0.1", ui_port)) {
    if (!jaeger.process->Running()) {
      return arrow::Status::IOError("Jaeger (", binary, ") exited at start; see ", log_path.string());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return arrow::Status::IOError("Jaeger (", binary, ") did not listen within 60 s; see ", log_path.string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  jaeger.otlp_endpoint = "http://" + address(otlp_port);
  jaeger.ui = "http://" + address(ui_port);
  return jaeger;
}

}  // namespace flightdeck::cli
