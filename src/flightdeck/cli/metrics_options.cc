#include "flightdeck/cli/metrics_options.h"

#include <iostream>

#include "flightdeck/cli/commands.h"

namespace flightdeck::cli {

namespace {

class PrometheusSdkMetrics final : public temporal::MetricsHandler {
 public:
  explicit PrometheusSdkMetrics(std::shared_ptr<observe::Metrics> metrics) : metrics_(std::move(metrics)) {}
  void Count(std::string_view name, const temporal::MetricLabels& labels, double value) override {
    metrics_->Count(name, labels, value);
  }
  void Set(std::string_view name, const temporal::MetricLabels& labels, double value) override {
    metrics_->Set(name, labels, value);
  }
  void RecordMilliseconds(std::string_view name, const temporal::MetricLabels& labels, double ms) override {
    metrics_->Observe(name, labels, ms, observe::kMillisecondsBuckets);
  }

 private:
  std::shared_ptr<observe::Metrics> metrics_;
};

}  // namespace

std::shared_ptr<MetricsFlags> AddMetricsOptions(CLI::App* cmd) {
  auto flags = std::make_shared<MetricsFlags>();
  cmd->add_option("--metrics-port", flags->port,
                  "Serve Prometheus /metrics on this port (0 picks a free one; default: no endpoint)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--metrics-host", flags->host, "Interface of the /metrics endpoint")->capture_default_str();
  return flags;
}

MetricsEndpoint StartMetricsOrExit(const MetricsFlags& flags) {
  MetricsEndpoint endpoint;
  if (flags.port < 0) return endpoint;
  endpoint.metrics = std::make_shared<observe::Metrics>();
  auto server = observe::MetricsServer::Start(flags.host, flags.port, endpoint.metrics);
  Check(server.status(), "--metrics-port");
  endpoint.server = std::move(*server);
  return endpoint;
}

std::shared_ptr<temporal::MetricsHandler> SdkMetrics(std::shared_ptr<observe::Metrics> metrics) {
  if (!metrics) return nullptr;
  return std::make_shared<PrometheusSdkMetrics>(std::move(metrics));
}

flight::CallObserver NodeCallMetrics(std::shared_ptr<observe::Metrics> metrics) {
  if (!metrics) return nullptr;
  return [metrics](const flight::CallRecord& call) {
    const std::string tenant = call.tenant.empty() ? "(unknown)" : call.tenant;
    metrics->Count("flightdeck_node_requests", {{"action", call.action}, {"code", call.code}, {"tenant", tenant}});
    metrics->Observe("flightdeck_node_request_duration_seconds", {{"action", call.action}}, call.seconds,
                     observe::kSecondsBuckets);
    if (call.code == "UNAUTHENTICATED" || call.code == "PERMISSION_DENIED") {
      metrics->Count("flightdeck_node_auth_failures", {{"code", call.code}});
    }
    if (call.code == "RESOURCE_EXHAUSTED") metrics->Count("flightdeck_node_capacity_refusals", {{"tenant", tenant}});
    if (call.code != "OK") return;
    const char* direction = call.action == "DoPut" ? "in" : call.action == "DoGet" ? "out" : nullptr;
    if (direction == nullptr) return;
    const observe::Labels labels{{"action", call.action}, {"direction", direction}, {"tenant", tenant}};
    if (call.rows >= 0) metrics->Count("flightdeck_node_rows", labels, static_cast<double>(call.rows));
    if (call.bytes >= 0) metrics->Count("flightdeck_node_bytes", labels, static_cast<double>(call.bytes));
  };
}

void ObserveNodeStore(observe::Metrics& metrics, const flight::DataNode* node) {
  observe::Metrics* target = &metrics;
  metrics.OnScrape([target, node] {
    const flight::StoreStats stats = node->stats();
    target->Set("flightdeck_node_datasets", {{"tier", "memory"}}, static_cast<double>(stats.datasets_in_memory));
    target->Set("flightdeck_node_datasets", {{"tier", "disk"}}, static_cast<double>(stats.datasets_on_disk));
    target->Set("flightdeck_node_datasets_durable", {}, static_cast<double>(stats.datasets_durable));
    target->Set("flightdeck_node_datasets_corrupt", {}, static_cast<double>(stats.datasets_corrupt));
    target->Set("flightdeck_node_tier_bytes", {{"tier", "memory"}}, static_cast<double>(stats.memory_used_bytes));
    target->Set("flightdeck_node_tier_bytes", {{"tier", "disk"}}, static_cast<double>(stats.disk_used_bytes));
    target->Set("flightdeck_node_budget_bytes", {{"tier", "memory"}}, static_cast<double>(stats.memory_budget_bytes));
    target->Set("flightdeck_node_budget_bytes", {{"tier", "disk"}}, static_cast<double>(stats.disk_budget_bytes));
    target->Set("flightdeck_node_puts_in_flight", {}, static_cast<double>(stats.puts_in_flight));
    target->Set("flightdeck_node_spills", {}, static_cast<double>(stats.spills));
    target->Set("flightdeck_node_spilled_bytes", {}, static_cast<double>(stats.spilled_bytes));
    target->Set("flightdeck_node_reloads", {}, static_cast<double>(stats.reloads));
    target->Set("flightdeck_node_reloaded_bytes", {}, static_cast<double>(stats.reloaded_bytes));
    for (const auto& [tenant, usage] : stats.tenants) {
      target->Set("flightdeck_node_tenant_bytes", {{"tenant", tenant}, {"tier", "memory"}},
                  static_cast<double>(usage.memory_bytes));
      target->Set("flightdeck_node_tenant_bytes", {{"tenant", tenant}, {"tier", "disk"}},
                  static_cast<double>(usage.disk_bytes));
      target->Set("flightdeck_node_tenant_datasets", {{"tenant", tenant}}, static_cast<double>(usage.datasets));
    }
  });
}

}  // namespace flightdeck::cli
