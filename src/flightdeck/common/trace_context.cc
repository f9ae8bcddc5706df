#include "flightdeck/common/trace_context.h"

#include <algorithm>

#include "flightdeck/common/crypto.h"
#include "flightdeck/common/random.h"

namespace flightdeck {
namespace {

thread_local const TraceContext* current_context = nullptr;

bool IsLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool AllZero(std::string_view text) { return text.find_first_not_of('0') == std::string_view::npos; }

// A random id of `bytes` bytes that is not all zeros (W3C forbids those).
std::string RandomId(size_t bytes) {
  for (;;) {
    std::string id = RandomHex(bytes);
    if (!AllZero(id)) return id;
  }
}

std::string IdFrom(std::string_view seed, size_t digits) {
  std::string id = Sha256Hex(seed).substr(0, digits);
  if (AllZero(id)) id.back() = '1';
  return id;
}

}  // namespace

std::string TraceContext::ToTraceparent() const {
  return "00-" + trace_id + "-" + span_id + (sampled ? "-01" : "-00");
}

std::optional<TraceContext> TraceContext::FromTraceparent(std::string_view traceparent, std::string_view tracestate) {
  // version "-" trace-id "-" parent-id "-" flags; a future version may
  // append fields after the flags, which version 00 must not.
  if (traceparent.size() < 55 || traceparent[2] != '-' || traceparent[35] != '-' || traceparent[52] != '-') {
    return std::nullopt;
  }
  const std::string_view version = traceparent.substr(0, 2);
  const std::string_view trace = traceparent.substr(3, 32);
  const std::string_view span = traceparent.substr(36, 16);
  const std::string_view flags = traceparent.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff" || !IsLowerHex(trace) || !IsLowerHex(span) || !IsLowerHex(flags)) {
    return std::nullopt;
  }
  if (version == "00" && traceparent.size() != 55) return std::nullopt;
  if (version != "00" && traceparent.size() > 55 && traceparent[55] != '-') return std::nullopt;
  if (AllZero(trace) || AllZero(span)) return std::nullopt;
  TraceContext context;
  context.trace_id = std::string(trace);
  context.span_id = std::string(span);
  const int flag_bits = std::stoi(std::string(flags), nullptr, 16);
  context.sampled = (flag_bits & 1) != 0;
  context.tracestate = std::string(tracestate);
  return context;
}

TraceContext TraceContext::NewChild() const {
  TraceContext child = *this;
  child.span_id = NewSpanId();
  return child;
}

std::string NewTraceId() { return RandomId(16); }
std::string NewSpanId() { return RandomId(8); }
std::string TraceIdFrom(std::string_view seed) { return IdFrom(seed, 32); }
std::string SpanIdFrom(std::string_view seed) { return IdFrom(seed, 16); }

TraceContext StartSpanContext(const SpanSink& sink, const std::optional<TraceContext>& parent) {
  TraceContext context = parent ? parent->NewChild() : TraceContext{.trace_id = NewTraceId(), .span_id = NewSpanId()};
  context.sampled = sink.ShouldSample(parent ? &*parent : nullptr, context.trace_id);
  return context;
}

const TraceContext* CurrentTraceContext() { return current_context; }

ScopedTraceContext::ScopedTraceContext(TraceContext context)
    : context_(std::move(context)), outer_(current_context) {
  current_context = &context_;
}

ScopedTraceContext::~ScopedTraceContext() { current_context = outer_; }

}  // namespace flightdeck
