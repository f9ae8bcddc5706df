// flightdeck/common/trace_context.h: W3C trace context, the finished spans
// every layer reports, and the sink they are handed to.
//
// It lives in common because the Temporal SDK (which may depend on common
// only), the data node and the pipeline all carry the same context: in a
// `traceparent` Flight header, in the Temporal header `_tracer-data`, and as
// the thread's current context that logs and outgoing calls pick up. The
// exporter (batching, OTLP) is observe::Tracer, one SpanSink.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace flightdeck {

/// One span's identity within its trace, as W3C trace context spells it:
/// lower-case hex, 32 digits of trace id and 16 of span id, never all zero.
struct TraceContext {
  std::string trace_id;
  std::string span_id;
  bool sampled = true;
  /// The vendor `tracestate` header, passed along untouched.
  std::string tracestate;

  bool valid() const { return trace_id.size() == 32 && span_id.size() == 16; }
  /// "00-<trace id>-<span id>-<01|00>".
  std::string ToTraceparent() const;
  /// The context a `traceparent` header names; nullopt when it is missing
  /// or malformed (a malformed header is ignored, as W3C asks).
  static std::optional<TraceContext> FromTraceparent(std::string_view traceparent, std::string_view tracestate = {});

  /// A child of this context: same trace and flags, a new random span id.
  TraceContext NewChild() const;
};

/// A new random trace id / span id (hex).
std::string NewTraceId();
std::string NewSpanId();
/// Ids derived from `seed` (SHA-256), for spans that must keep one identity
/// wherever and however often they are computed (a workflow's, on replay or
/// on another worker).
std::string TraceIdFrom(std::string_view seed);
std::string SpanIdFrom(std::string_view seed);

enum class SpanKind { kInternal, kServer, kClient, kProducer, kConsumer };

/// A span that has ended.
struct Span {
  using Value = std::variant<std::string, int64_t, double, bool>;
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  TraceContext context;
  /// Empty for a trace's root span.
  std::string parent_span_id;
  std::chrono::system_clock::time_point start;
  std::chrono::system_clock::time_point end;
  /// Unset (OK) or an error with its message.
  bool error = false;
  std::string status_message;
  std::vector<std::pair<std::string, Value>> attributes;
};

/// Where finished spans go. Implementations must be thread-safe and never
/// block the caller (they queue, and drop when their queue is full).
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  /// Whether a new span is recorded: `parent` is the context it continues
  /// (nullptr for a new trace), `trace_id` its trace.
  virtual bool ShouldSample(const TraceContext* parent, std::string_view trace_id) const = 0;
  virtual void Export(Span span) = 0;
};

/// The context of a new span: a child of `parent` (its trace, a new span
/// id), or the root of a new trace; sampled as `sink` decides.
TraceContext StartSpanContext(const SpanSink& sink, const std::optional<TraceContext>& parent);

/// The context the current thread works for (set by ScopedTraceContext), or
/// nullptr. Outgoing Flight calls carry it as `traceparent`; JSON log lines
/// show its ids.
const TraceContext* CurrentTraceContext();

/// Makes `context` the thread's current one while it lives; nesting restores
/// the outer one.
class ScopedTraceContext {
 public:
  explicit ScopedTraceContext(TraceContext context);
  ~ScopedTraceContext();
  ScopedTraceContext(const ScopedTraceContext&) = delete;
  ScopedTraceContext& operator=(const ScopedTraceContext&) = delete;

 private:
  TraceContext context_;
  const TraceContext* outer_;
};

}  // namespace flightdeck
