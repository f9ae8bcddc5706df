// flightdeck/observe/metrics.h: Prometheus metrics through prometheus-cpp.
//
// A Metrics object is one registry of metric families made on first use by
// name, and optionally the HTTP endpoint that serves them (/metrics):
//
//   auto metrics = std::make_shared<observe::Metrics>();
//   metrics->Count("flightdeck_node_requests", {{"action", "DoGet"}, {"code", "OK"}});
//   metrics->Observe("flightdeck_node_request_duration_seconds", {{"action", "DoGet"}}, 0.012,
//                    observe::kSecondsBuckets);
//   ARROW_ASSIGN_OR_RAISE(auto server, observe::MetricsServer::Start("127.0.0.1", 9464, metrics));
//
// Counters are exposed under the name given (no "_total" is appended, as
// the Temporal SDKs expose theirs). A name is one type for the life of the
// process; using it as another type is a programming error and is ignored.
// All methods are thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/result.h>

namespace prometheus {
class Registry;
class Exposer;
class Collectable;
}  // namespace prometheus

namespace flightdeck::observe {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// Histogram buckets in milliseconds, as the Core-based Temporal SDKs use.
extern const std::vector<double> kMillisecondsBuckets;
/// Histogram buckets in seconds (Prometheus convention) for flightdeck's own.
extern const std::vector<double> kSecondsBuckets;

class Metrics {
 public:
  Metrics();
  ~Metrics();

  void Count(std::string_view name, const Labels& labels, double value = 1);
  void Set(std::string_view name, const Labels& labels, double value);
  void Observe(std::string_view name, const Labels& labels, double value, const std::vector<double>& buckets);

  /// Runs `hook` at every scrape, before the metrics are read: for figures
  /// kept elsewhere (a store's counters), which the hook Set()s.
  void OnScrape(std::function<void()> hook);

  /// Runs the scrape hooks; the server calls it.
  void RunScrapeHooks() const;

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  struct Families;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
  mutable std::mutex mutex_;
  std::vector<std::function<void()>> hooks_;
};

/// The /metrics endpoint of a Metrics object.
class MetricsServer {
 public:
  /// Listens on host:port (0 picks a free port). IOError naming the address
  /// when it cannot.
  static arrow::Result<std::unique_ptr<MetricsServer>> Start(const std::string& host, int port,
                                                             std::shared_ptr<Metrics> metrics);
  ~MetricsServer();
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Collectable> collectable_;
  int port_ = 0;
};

}  // namespace flightdeck::observe
