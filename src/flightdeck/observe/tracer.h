// flightdeck/observe/tracer.h: spans to an OpenTelemetry backend over
// OTLP/HTTP (JSON encoding), configured by the standard OTEL_* variables.
//
// No C++ OpenTelemetry SDK comes from a registry this project may use, so
// this is the small exporter the issue allows: a batch span processor (a
// bounded queue drained by one thread, every OTEL_BSP_SCHEDULE_DELAY or when
// a batch is full) in front of an OTLP/HTTP POST to /v1/traces. Export()
// never blocks: a full queue drops the span and counts it.
//
//   ARROW_ASSIGN_OR_RAISE(auto options, observe::TracerOptionsFromEnvironment("flightdeck-node"));
//   if (options) ARROW_ASSIGN_OR_RAISE(tracer, observe::Tracer::Start(*options));
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arrow/result.h>

#include "flightdeck/common/trace_context.h"

namespace flightdeck::observe {

struct TracerOptions {
  /// The full URL spans are POSTed to (http[s]://host:port/v1/traces).
  std::string endpoint;
  std::string service_name;
  /// Resource attributes besides service.name (OTEL_RESOURCE_ATTRIBUTES).
  std::vector<std::pair<std::string, std::string>> resource_attributes;
  /// Extra request headers (OTEL_EXPORTER_OTLP_HEADERS); never logged.
  std::vector<std::pair<std::string, std::string>> headers;
  /// CA bundle for an https endpoint (OTEL_EXPORTER_OTLP_CERTIFICATE).
  std::string ca_file;
  /// always_on, always_off, traceidratio, parentbased_always_on,
  /// parentbased_always_off or parentbased_traceidratio.
  std::string sampler = "parentbased_always_on";
  double sampler_ratio = 1.0;
  size_t max_queue_size = 2048;
  size_t max_export_batch_size = 512;
  std::chrono::milliseconds schedule_delay{5000};
  std::chrono::milliseconds export_timeout{10000};
};

/// The options the OTEL_* environment gives, or nullopt when tracing is off:
/// it is on when OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint variable is
/// set, and off with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
/// Invalid when a variable holds something unsupported (an exporter other
/// than otlp, the grpc protocol, an unknown sampler, a bad number), naming
/// the variable. `default_service_name` is used without OTEL_SERVICE_NAME.
arrow::Result<std::optional<TracerOptions>> TracerOptionsFromEnvironment(const std::string& default_service_name);

class Tracer : public SpanSink {
 public:
  /// Starts the export thread. Invalid for a malformed endpoint URL.
  static arrow::Result<std::shared_ptr<Tracer>> Start(TracerOptions options);
  /// Exports what is queued, then stops. With the backend gone, the first
  /// failing batch (its connect, write and read timeouts) ends it: the rest
  /// is dropped.
  ~Tracer() override;

  bool ShouldSample(const TraceContext* parent, std::string_view trace_id) const override;
  void Export(Span span) override;

  /// Exports everything queued now and waits for a batch the export thread
  /// is sending; true when what it sent itself was accepted.
  bool Flush();

  const TracerOptions& options() const { return options_; }
  /// Spans the backend accepted / spans lost (queue full or export failed).
  int64_t spans_exported() const { return exported_.load(); }
  int64_t spans_dropped() const { return dropped_.load(); }

 private:
  struct Endpoint;
  Tracer(TracerOptions options, std::unique_ptr<Endpoint> endpoint);
  void Run();
  // Posts one batch; counts it exported or dropped.
  bool Send(std::vector<Span> batch);

  const TracerOptions options_;
  std::unique_ptr<Endpoint> endpoint_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Span> queue_;
  bool stopping_ = false;
  // Batches the export thread took and is sending; idle_ when it drops to 0.
  int in_flight_ = 0;
  std::condition_variable idle_;
  // Serializes exports (the thread's and Flush()'s).
  std::mutex send_mutex_;
  std::atomic<int64_t> exported_{0};
  std::atomic<int64_t> dropped_{0};
  std::chrono::steady_clock::time_point last_warning_{};
  std::thread thread_;
};

/// The OTLP/HTTP JSON request body for `spans` (exposed for tests).
std::string OtlpJson(const std::vector<Span>& spans, const TracerOptions& options);

}  // namespace flightdeck::observe
