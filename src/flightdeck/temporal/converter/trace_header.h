// flightdeck/temporal/converter/trace_header.h: W3C trace context in
// Temporal headers, as the official SDKs' OpenTelemetry interceptors carry
// it (Python's temporalio.contrib.opentelemetry.TracingInterceptor): header
// "_tracer-data", one json/plain payload holding the propagator's carrier,
// {"traceparent": "00-...", "tracestate": "..."}. Headers are never passed
// through payload codecs, so the context stays readable to every worker.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <google/protobuf/map.h>

#include "flightdeck/common/trace_context.h"
#include "flightdeck/temporal/converter/payload_converter.h"

namespace flightdeck::temporal {

inline constexpr char kTracerHeader[] = "_tracer-data";

/// The header payload that carries `context`.
Payload TraceHeaderPayload(const TraceContext& context);

/// The context a header's fields carry; nullopt when there is none or it is
/// malformed (which is ignored, as propagators do).
std::optional<TraceContext> TraceContextFromHeader(const google::protobuf::Map<std::string, Payload>& fields);
std::optional<TraceContext> TraceContextFromHeader(const std::map<std::string, Payload>& fields);

}  // namespace flightdeck::temporal
