// flightdeck/cli/tracing_options.h: the process's tracer (observe/tracer.h)
// from the standard OTEL_* environment, and the spans of a data node's calls.
#pragma once

#include <memory>
#include <string>

#include "flightdeck/flight/call_record.h"
#include "flightdeck/observe/metrics.h"
#include "flightdeck/observe/tracer.h"

namespace flightdeck::cli {

/// The tracer the OTEL_* variables ask for, or null when tracing is off;
/// exits naming the variable when one is invalid. With `metrics`, its
/// counts are flightdeck_trace_spans_exported / _dropped at every scrape.
/// With `otlp_endpoint` (a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT), spans
/// go there whatever the endpoint variables say, and tracing is on.
std::shared_ptr<observe::Tracer> StartTracerOrExit(const std::string& service_name,
                                                   const std::shared_ptr<observe::Metrics>& metrics,
                                                   const std::string& otlp_endpoint = "");

/// One span per node call ("flight.DoPut", "flight.DoGet", ...), the child
/// of the caller's `traceparent` when it sent one; null without a tracer.
flight::CallObserver NodeCallSpans(std::shared_ptr<observe::Tracer> tracer);

/// Tells both observers (either may be null).
flight::CallObserver BothObservers(flight::CallObserver first, flight::CallObserver second);

}  // namespace flightdeck::cli
