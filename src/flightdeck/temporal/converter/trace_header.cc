#include "flightdeck/temporal/converter/trace_header.h"

#include <nlohmann/json.hpp>

namespace flightdeck::temporal {
namespace {

std::optional<TraceContext> FromPayload(const Payload& payload) {
  auto carrier = internal::JsonFromPayload(payload);
  if (!carrier.ok() || !carrier->is_object()) return std::nullopt;
  const auto parent = carrier->find("traceparent");
  if (parent == carrier->end() || !parent->is_string()) return std::nullopt;
  const auto state = carrier->find("tracestate");
  return TraceContext::FromTraceparent(parent->get<std::string>(),
                                       state != carrier->end() && state->is_string() ? state->get<std::string>()
                                                                                      : std::string());
}

}  // namespace

Payload TraceHeaderPayload(const TraceContext& context) {
  nlohmann::json carrier{{"traceparent", context.ToTraceparent()}};
  if (!context.tracestate.empty()) carrier["tracestate"] = context.tracestate;
  return internal::MakePayload("json/plain", carrier.dump());
}

std::optional<TraceContext> TraceContextFromHeader(const google::protobuf::Map<std::string, Payload>& fields) {
  const auto it = fields.find(kTracerHeader);
  return it == fields.end() ? std::nullopt : FromPayload(it->second);
}

std::optional<TraceContext> TraceContextFromHeader(const std::map<std::string, Payload>& fields) {
  const auto it = fields.find(kTracerHeader);
  return it == fields.end() ? std::nullopt : FromPayload(it->second);
}

}  // namespace flightdeck::temporal
