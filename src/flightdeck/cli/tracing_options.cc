#include "flightdeck/cli/tracing_options.h"

#include "flightdeck/cli/commands.h"
#include "flightdeck/common/logging.h"

namespace flightdeck::cli {

std::shared_ptr<observe::Tracer> StartTracerOrExit(const std::string& service_name,
                                                   const std::shared_ptr<observe::Metrics>& metrics,
                                                   const std::string& otlp_endpoint) {
  auto options = observe::TracerOptionsFromEnvironment(service_name);
  Check(options.status(), "tracing");
  if (!otlp_endpoint.empty()) {
    if (!options->has_value()) *options = observe::TracerOptions{.service_name = service_name};
    (*options)->endpoint = otlp_endpoint + "/v1/traces";
  }
  if (!options->has_value()) return nullptr;
  auto tracer = observe::Tracer::Start(std::move(**options));
  Check(tracer.status(), "tracing");
  FD_LOG(kInfo) << "sending traces to " << (*tracer)->options().endpoint << " as service "
                << (*tracer)->options().service_name;
  if (metrics) {
    std::weak_ptr<observe::Tracer> weak = *tracer;
    observe::Metrics* target = metrics.get();
    metrics->OnScrape([weak, target] {
      if (auto live = weak.lock()) {
        target->Set("flightdeck_trace_spans_exported", {}, static_cast<double>(live->spans_exported()));
        target->Set("flightdeck_trace_spans_dropped", {}, static_cast<double>(live->spans_dropped()));
      }
    });
  }
  return *tracer;
}

flight::CallObserver NodeCallSpans(std::shared_ptr<observe::Tracer> tracer) {
  if (!tracer) return nullptr;
  return [tracer](const flight::CallRecord& call) {
    const std::optional<TraceContext> parent = TraceContext::FromTraceparent(call.traceparent, call.tracestate);
    TraceContext context = StartSpanContext(*tracer, parent);
    if (!context.sampled) return;
    Span span{.name = "flight." + call.action,
              .kind = SpanKind::kServer,
              .context = std::move(context),
              .parent_span_id = parent ? parent->span_id : "",
              .start = call.started_at,
              .end = call.started_at + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                           std::chrono::duration<double>(call.seconds)),
              .error = call.code != "OK",
              .status_message = call.code == "OK" ? "" : call.code,
              .attributes = {{"rpc.system", std::string("grpc")},
                             {"rpc.service", std::string("arrow.flight.protocol.FlightService")},
                             {"rpc.grpc.status_code", call.code}}};
    if (!call.tenant.empty()) span.attributes.emplace_back("flightdeck.tenant", call.tenant);
    if (!call.dataset.empty()) span.attributes.emplace_back("flightdeck.dataset", call.dataset);
    if (call.rows >= 0) span.attributes.emplace_back("flightdeck.rows", call.rows);
    if (call.bytes >= 0) span.attributes.emplace_back("flightdeck.bytes", call.bytes);
    tracer->Export(std::move(span));
  };
}

flight::CallObserver BothObservers(flight::CallObserver first, flight::CallObserver second) {
  if (!first) return second;
  if (!second) return first;
  return [first = std::move(first), second = std::move(second)](const flight::CallRecord& call) {
    first(call);
    second(call);
  };
}

}  // namespace flightdeck::cli
