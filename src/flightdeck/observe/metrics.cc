#include "flightdeck/observe/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <exception>
#include <variant>

namespace flightdeck::observe {

const std::vector<double> kMillisecondsBuckets = {50, 100, 500, 1000, 5000, 10000, 60000};
const std::vector<double> kSecondsBuckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60};

namespace {

prometheus::Labels ToMap(const Labels& labels) { return prometheus::Labels(labels.begin(), labels.end()); }

}  // namespace

struct Metrics::Families {
  std::mutex mutex;
  std::map<std::string, std::variant<prometheus::Family<prometheus::Counter>*, prometheus::Family<prometheus::Gauge>*,
                                     prometheus::Family<prometheus::Histogram>*>,
           std::less<>>
      by_name;

  template <typename Metric, typename Builder>
  prometheus::Family<Metric>* Get(prometheus::Registry& registry, std::string_view name, Builder build) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      prometheus::Family<Metric>* family = nullptr;
      try {
        family = &build().Name(std::string(name)).Help(std::string(name)).Register(registry);
      } catch (const std::exception&) {
        return nullptr;  // an invalid name: a programming error, ignored
      }
      it = by_name.emplace(std::string(name), family).first;
    }
    auto* family = std::get_if<prometheus::Family<Metric>*>(&it->second);
    return family ? *family : nullptr;
  }
};

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()), families_(std::make_unique<Families>()) {}
Metrics::~Metrics() = default;

void Metrics::Count(std::string_view name, const Labels& labels, double value) {
  auto* family = families_->Get<prometheus::Counter>(*registry_, name, [] { return prometheus::BuildCounter(); });
  if (family && value >= 0) family->Add(ToMap(labels)).Increment(value);
}

void Metrics::Set(std::string_view name, const Labels& labels, double value) {
  auto* family = families_->Get<prometheus::Gauge>(*registry_, name, [] { return prometheus::BuildGauge(); });
  if (family) family->Add(ToMap(labels)).Set(value);
}

void Metrics::Observe(std::string_view name, const Labels& labels, double value, const std::vector<double>& buckets) {
  auto* family = families_->Get<prometheus::Histogram>(*registry_, name, [] { return prometheus::BuildHistogram(); });
  if (family) family->Add(ToMap(labels), buckets).Observe(value);
}

void Metrics::OnScrape(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mutex_);
  hooks_.push_back(std::move(hook));
}

void Metrics::RunScrapeHooks() const {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hooks = hooks_;
  }
  for (const auto& hook : hooks) hook();
}

namespace {

// What the endpoint serves: the registry, read after the scrape hooks ran.
class Scrape final : public prometheus::Collectable {
 public:
  explicit Scrape(std::shared_ptr<Metrics> metrics) : metrics_(std::move(metrics)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    metrics_->RunScrapeHooks();
    return metrics_->registry()->Collect();
  }

 private:
  std::shared_ptr<Metrics> metrics_;
};

}  // namespace

arrow::Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& host, int port,
                                                                   std::shared_ptr<Metrics> metrics) {
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  const std::string address = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                              std::to_string(port);
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return arrow::Status::IOError("cannot serve metrics on ", address, ": ", e.what());
  }
  server->collectable_ = std::make_shared<Scrape>(std::move(metrics));
  server->exposer_->RegisterCollectable(server->collectable_);
  const auto ports = server->exposer_->GetListeningPorts();
  server->port_ = ports.empty() ? port : ports.front();
  return server;
}

MetricsServer::~MetricsServer() = default;

}  // namespace flightdeck::observe
