#include "flightdeck/observe/tracer.h"

#include <cstdlib>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace flightdeck::observe {
namespace {

// Sets OTEL_* variables for one test and clears every OTEL_* it knows after.
class OtelEnvironment {
 public:
  OtelEnvironment(std::initializer_list<std::pair<const char*, const char*>> values) {
    Clear();
    for (const auto& [name, value] : values) setenv(name, value, 1);
  }
  ~OtelEnvironment() { Clear(); }

 private:
  static void Clear() {
    for (const char* name :
         {"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
          "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
          "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_SCHEDULE_DELAY",
          "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_EXPORTER_OTLP_TIMEOUT"}) {
      unsetenv(name);
    }
  }
};

TEST(TracerOptionsTest, OffUnlessAnEndpointOrTheExporterIsSet) {
  {
    OtelEnvironment env({});
    auto options = TracerOptionsFromEnvironment("svc");
    ASSERT_TRUE(options.ok());
    EXPECT_FALSE(options->has_value());
  }
  {
    OtelEnvironment env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"}, {"OTEL_SDK_DISABLED", "true"}});
    EXPECT_FALSE(TracerOptionsFromEnvironment("svc")->has_value());
  }
  {
    OtelEnvironment env({{"OTEL_TRACES_EXPORTER", "otlp"}});
    auto options = TracerOptionsFromEnvironment("svc");
    ASSERT_TRUE(options.ok() && options->has_value());
    EXPECT_EQ((*options)->endpoint, "http://localhost:4318/v1/traces");
  }
}

TEST(TracerOptionsTest, ReadsTheStandardVariables) {
  OtelEnvironment env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"},
                       {"OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,deployment.environment=prod%20eu"},
                       {"OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret"},
                       {"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"},
                       {"OTEL_TRACES_SAMPLER_ARG", "0.25"},
                       {"OTEL_BSP_MAX_QUEUE_SIZE", "100"},
                       {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500"}});
  auto options = TracerOptionsFromEnvironment("svc");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  const TracerOptions& o = **options;
  EXPECT_EQ(o.endpoint, "http://collector:4318/v1/traces");
  EXPECT_EQ(o.service_name, "from-attrs");
  ASSERT_EQ(o.resource_attributes.size(), 1u);
  EXPECT_EQ(o.resource_attributes[0].second, "prod eu");
  ASSERT_EQ(o.headers.size(), 1u);
  EXPECT_EQ(o.headers[0].first, "api-key");
  EXPECT_EQ(o.sampler, "parentbased_traceidratio");
  EXPECT_DOUBLE_EQ(o.sampler_ratio, 0.25);
  EXPECT_EQ(o.max_queue_size, 100u);
  EXPECT_EQ(o.max_export_batch_size, 100u);  // never above the queue
}

TEST(TracerOptionsTest, RefusesWhatItCannotDoNamingTheVariable) {
  struct Case {
    const char* name;
    const char* value;
    const char* message;
  };
  for (const Case& c : {Case{"OTEL_TRACES_EXPORTER", "jaeger", "OTEL_TRACES_EXPORTER"},
                        Case{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL"},
                        Case{"OTEL_TRACES_SAMPLER", "maybe", "OTEL_TRACES_SAMPLER"},
                        Case{"OTEL_BSP_SCHEDULE_DELAY", "-1", "OTEL_BSP_SCHEDULE_DELAY"},
                        Case{"OTEL_BSP_SCHEDULE_DELAY", "0", "OTEL_BSP_SCHEDULE_DELAY"},
                        Case{"OTEL_BSP_SCHEDULE_DELAY", "99999999999999", "OTEL_BSP_SCHEDULE_DELAY"},
                        Case{"OTEL_EXPORTER_OTLP_HEADERS", "novalue", "OTEL_EXPORTER_OTLP_HEADERS"}}) {
    OtelEnvironment env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"}, {c.name, c.value}});
    auto options = TracerOptionsFromEnvironment("svc");
    ASSERT_FALSE(options.ok()) << c.name;
    EXPECT_NE(options.status().message().find(c.message), std::string::npos) << options.status().ToString();
  }
  OtelEnvironment env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"},
                       {"OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret,broken"}});
  // A header value may be a secret: errors name the variable only.
  const auto refused = TracerOptionsFromEnvironment("svc");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message().find("s3cret"), std::string::npos) << refused.status().ToString();
}

TEST(TracerTest, CredentialsInTheEndpointUrlAreRefusedWithoutEchoingThem) {
  auto tracer = Tracer::Start({.endpoint = "https://user:pa55word@collector:4318/v1/traces"});
  ASSERT_FALSE(tracer.ok());
  EXPECT_EQ(tracer.status().message().find("pa55word"), std::string::npos) << tracer.status().ToString();
  EXPECT_NE(tracer.status().message().find("OTEL_EXPORTER_OTLP_HEADERS"), std::string::npos);
}

TEST(TracerTest, SamplersFollowTheSpec) {
  TracerOptions options{.endpoint = "http://127.0.0.1:1/v1/traces"};
  const TraceContext sampled{.trace_id = NewTraceId(), .span_id = NewSpanId(), .sampled = true};
  const TraceContext unsampled{.trace_id = NewTraceId(), .span_id = NewSpanId(), .sampled = false};
  options.sampler = "parentbased_always_off";
  auto tracer = Tracer::Start(options);
  ASSERT_TRUE(tracer.ok());
  EXPECT_TRUE((*tracer)->ShouldSample(&sampled, sampled.trace_id));
  EXPECT_FALSE((*tracer)->ShouldSample(&unsampled, unsampled.trace_id));
  EXPECT_FALSE((*tracer)->ShouldSample(nullptr, NewTraceId()));
  options.sampler = "traceidratio";
  options.sampler_ratio = 0.5;
  auto ratio = Tracer::Start(options);
  int kept = 0;
  for (int i = 0; i < 2000; ++i) kept += (*ratio)->ShouldSample(&unsampled, NewTraceId()) ? 1 : 0;
  EXPECT_GT(kept, 800);
  EXPECT_LT(kept, 1200);
  // The decision is the trace id's low 64 bits against ratio * 2^64, as
  // OpenTelemetry's TraceIdRatioBased, so every process decides alike.
  EXPECT_TRUE((*ratio)->ShouldSample(nullptr, "ffffffffffffffff0000000000000001"));
  EXPECT_TRUE((*ratio)->ShouldSample(nullptr, "00000000000000007ffffffffffffff0"));
  EXPECT_FALSE((*ratio)->ShouldSample(nullptr, "00000000000000008000000000000001"));
  EXPECT_FALSE((*ratio)->ShouldSample(nullptr, "0000000000000001ffffffffffffffff"));
}

TEST(TracerTest, AFullQueueDropsAndCountsInsteadOfBlocking) {
  // Nothing listens on port 1: every export fails and is counted as dropped.
  TracerOptions options{.endpoint = "http://127.0.0.1:1/v1/traces",
                        .max_queue_size = 10,
                        .max_export_batch_size = 10,
                        .schedule_delay = std::chrono::hours(1),
                        .export_timeout = std::chrono::milliseconds(200)};
  auto tracer = Tracer::Start(options);
  ASSERT_TRUE(tracer.ok());
  for (int i = 0; i < 1000; ++i) {
    (*tracer)->Export({.name = "s", .context = {.trace_id = NewTraceId(), .span_id = NewSpanId()}});
  }
  // Flush also waits for a batch the export thread took.
  (*tracer)->Flush();
  EXPECT_EQ((*tracer)->spans_exported(), 0);
  EXPECT_EQ((*tracer)->spans_dropped(), 1000);
}

TEST(OtlpJsonTest, EncodesSpansAsTheOtlpJsonMapping) {
  TracerOptions options{.service_name = "flightdeck-node", .resource_attributes = {{"host.name", "a"}}};
  Span span{.name = "flight.DoPut",
            .kind = SpanKind::kServer,
            .context = {.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", .span_id = "00f067aa0ba902b7"},
            .parent_span_id = "1111111111111111",
            .start = std::chrono::system_clock::time_point(std::chrono::seconds(1)),
            .end = std::chrono::system_clock::time_point(std::chrono::seconds(2)),
            .error = true,
            .status_message = "NOT_FOUND",
            .attributes = {{"flightdeck.rows", int64_t{42}}, {"rpc.system", std::string("grpc")}}};
  const auto body = nlohmann::json::parse(OtlpJson({span}, options));
  const auto& resource = body["resourceSpans"][0]["resource"]["attributes"];
  EXPECT_EQ(resource[0]["key"], "service.name");
  EXPECT_EQ(resource[0]["value"]["stringValue"], "flightdeck-node");
  const auto& encoded = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(encoded["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");  // hex, not base64, in OTLP/JSON
  EXPECT_EQ(encoded["parentSpanId"], "1111111111111111");
  EXPECT_EQ(encoded["kind"], 2);  // SPAN_KIND_SERVER
  EXPECT_EQ(encoded["startTimeUnixNano"], "1000000000");
  EXPECT_EQ(encoded["attributes"][0]["value"]["intValue"], "42");
  EXPECT_EQ(encoded["status"]["code"], 2);
  EXPECT_EQ(encoded["status"]["message"], "NOT_FOUND");
}

}  // namespace
}  // namespace flightdeck::observe
