#include "flightdeck/observe/tracer.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/logging.h"

namespace flightdeck::observe {
namespace {

using nlohmann::json;

std::optional<std::string> Env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

// The signal-specific variable (OTEL_EXPORTER_OTLP_TRACES_X) wins over the
// general one (OTEL_EXPORTER_OTLP_X).
std::optional<std::string> OtlpEnv(std::string_view suffix, std::string* name) {
  for (const std::string candidate :
       {"OTEL_EXPORTER_OTLP_TRACES_" + std::string(suffix), "OTEL_EXPORTER_OTLP_" + std::string(suffix)}) {
    if (auto value = Env(candidate.c_str())) {
      *name = candidate;
      return value;
    }
  }
  return std::nullopt;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string Trim(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return "";
  const auto end = text.find_last_not_of(" \t");
  return std::string(text.substr(begin, end - begin + 1));
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// "k1=v1,k2=v2" (W3C baggage-like, percent-encoded values) as the OTEL_*
// variables for headers and resource attributes spell them.
arrow::Result<std::vector<std::pair<std::string, std::string>>> KeyValues(const std::string& name,
                                                                         std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (Trim(item).empty()) continue;
    const size_t equals = item.find('=');
    if (equals == std::string_view::npos || Trim(item.substr(0, equals)).empty()) {
      // The value may be a secret: name the variable, not its content.
      return arrow::Status::Invalid(name, " must be a comma-separated list of key=value pairs");
    }
    out.emplace_back(PercentDecode(Trim(item.substr(0, equals))), PercentDecode(Trim(item.substr(equals + 1))));
  }
  return out;
}

arrow::Result<int64_t> Number(const std::string& name, const std::string& text, int64_t min, int64_t max) {
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end == text.c_str() || *end != '\0' || value < min || value > max) {
    return arrow::Status::Invalid(name, " must be an integer from ", min, " to ", max, ", got '", text, "'");
  }
  return value;
}

// Milliseconds: at least 1 (a zero delay would spin the export thread), at
// most a day.
constexpr int64_t kMaxMillis = 24 * 3600 * 1000;

arrow::Result<std::chrono::milliseconds> Millis(const std::string& name, const std::string& text) {
  ARROW_ASSIGN_OR_RAISE(int64_t value, Number(name, text, 1, kMaxMillis));
  return std::chrono::milliseconds(value);
}

}  // namespace

arrow::Result<std::optional<TracerOptions>> TracerOptionsFromEnvironment(const std::string& default_service_name) {
  if (Lower(Env("OTEL_SDK_DISABLED").value_or("false")) == "true") return std::nullopt;
  std::string endpoint_name;
  std::optional<std::string> traces_endpoint = Env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  std::optional<std::string> base_endpoint = Env("OTEL_EXPORTER_OTLP_ENDPOINT");
  if (auto exporter = Env("OTEL_TRACES_EXPORTER")) {
    const std::string value = Lower(Trim(*exporter));
    if (value == "none") return std::nullopt;
    if (value != "otlp") {
      return arrow::Status::Invalid("OTEL_TRACES_EXPORTER='", *exporter,
                                    "' is not supported: flightdeck exports traces with otlp (or none)");
    }
  } else if (!traces_endpoint && !base_endpoint) {
    return std::nullopt;
  }
  std::string protocol_name;
  if (auto protocol = OtlpEnv("PROTOCOL", &protocol_name)) {
    // Every OTLP/HTTP receiver takes both encodings on the same path; this
    // exporter sends JSON.
    if (*protocol != "http/json" && *protocol != "http/protobuf") {
      return arrow::Status::Invalid(protocol_name, "='", *protocol,
                                    "' is not supported: flightdeck exports OTLP over HTTP (http/json or "
                                    "http/protobuf; point it at the receiver's HTTP port, usually 4318)");
    }
  }
  TracerOptions options;
  if (traces_endpoint) {
    options.endpoint = *traces_endpoint;
  } else {
    std::string base = base_endpoint.value_or("http://localhost:4318");
    while (!base.empty() && base.back() == '/') base.pop_back();
    options.endpoint = base + "/v1/traces";
  }
  if (auto attributes = Env("OTEL_RESOURCE_ATTRIBUTES")) {
    ARROW_ASSIGN_OR_RAISE(options.resource_attributes, KeyValues("OTEL_RESOURCE_ATTRIBUTES", *attributes));
  }
  options.service_name = default_service_name;
  for (auto it = options.resource_attributes.begin(); it != options.resource_attributes.end(); ++it) {
    if (it->first == "service.name") {
      options.service_name = it->second;
      options.resource_attributes.erase(it);
      break;
    }
  }
  if (auto service = Env("OTEL_SERVICE_NAME")) options.service_name = *service;
  std::string name;
  if (auto headers = OtlpEnv("HEADERS", &name)) {
    ARROW_ASSIGN_OR_RAISE(options.headers, KeyValues(name, *headers));
  }
  if (auto certificate = OtlpEnv("CERTIFICATE", &name)) options.ca_file = *certificate;
  if (auto timeout = OtlpEnv("TIMEOUT", &name)) {
    ARROW_ASSIGN_OR_RAISE(options.export_timeout, Millis(name, *timeout));
  }
  if (auto sampler = Env("OTEL_TRACES_SAMPLER")) {
    options.sampler = Lower(Trim(*sampler));
    static const char* const kSamplers[] = {"always_on",  "always_off", "traceidratio", "parentbased_always_on",
                                            "parentbased_always_off", "parentbased_traceidratio"};
    if (std::find(std::begin(kSamplers), std::end(kSamplers), options.sampler) == std::end(kSamplers)) {
      return arrow::Status::Invalid("OTEL_TRACES_SAMPLER='", *sampler,
                                    "' is not supported; use always_on, always_off, traceidratio, "
                                    "parentbased_always_on, parentbased_always_off or parentbased_traceidratio");
    }
  }
  if (auto ratio = Env("OTEL_TRACES_SAMPLER_ARG"); ratio && options.sampler.ends_with("traceidratio")) {
    char* end = nullptr;
    const double value = std::strtod(ratio->c_str(), &end);
    if (end == ratio->c_str() || *end != '\0' || !(value >= 0 && value <= 1)) {
      return arrow::Status::Invalid("OTEL_TRACES_SAMPLER_ARG must be a probability in [0, 1], got '", *ratio, "'");
    }
    options.sampler_ratio = value;
  }
  if (auto delay = Env("OTEL_BSP_SCHEDULE_DELAY")) {
    ARROW_ASSIGN_OR_RAISE(options.schedule_delay, Millis("OTEL_BSP_SCHEDULE_DELAY", *delay));
  }
  constexpr int64_t kMaxQueue = 1 << 24;
  if (auto size = Env("OTEL_BSP_MAX_QUEUE_SIZE")) {
    ARROW_ASSIGN_OR_RAISE(int64_t value, Number("OTEL_BSP_MAX_QUEUE_SIZE", *size, 1, kMaxQueue));
    options.max_queue_size = static_cast<size_t>(value);
  }
  if (auto size = Env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")) {
    ARROW_ASSIGN_OR_RAISE(int64_t value, Number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", *size, 1, kMaxQueue));
    options.max_export_batch_size = static_cast<size_t>(value);
  }
  options.max_export_batch_size = std::min(options.max_export_batch_size, options.max_queue_size);
  return options;
}

// The parsed endpoint and its HTTP client (one connection, kept alive).
struct Tracer::Endpoint {
  std::string origin;  // scheme://host[:port]
  std::string path;
  std::unique_ptr<httplib::Client> client;
};

arrow::Result<std::shared_ptr<Tracer>> Tracer::Start(TracerOptions options) {
  const std::string& url = options.endpoint;
  const size_t scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : Lower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") {
    return arrow::Status::Invalid("the OTLP endpoint '", url, "' must be an http:// or https:// URL");
  }
  const size_t path_begin = url.find('/', scheme_end + 3);
  auto endpoint = std::make_unique<Endpoint>();
  endpoint->origin = url.substr(0, path_begin);
  if (endpoint->origin.find('@') != std::string::npos) {
    // Never echo it: the part before '@' is a credential.
    return arrow::Status::Invalid(
        "the OTLP endpoint must not carry credentials in its URL; put them in OTEL_EXPORTER_OTLP_HEADERS");
  }
  endpoint->path = path_begin == std::string::npos ? "/" : url.substr(path_begin);
  if (endpoint->origin.size() <= scheme_end + 3) {
    return arrow::Status::Invalid("the OTLP endpoint '", url, "' names no host");
  }
  endpoint->client = std::make_unique<httplib::Client>(endpoint->origin);
  if (!endpoint->client->is_valid()) return arrow::Status::Invalid("the OTLP endpoint '", url, "' is not usable");
  const auto timeout = options.export_timeout;
  endpoint->client->set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  endpoint->client->set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  endpoint->client->set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  endpoint->client->set_keep_alive(true);
  if (scheme == "https") {
    endpoint->client->enable_server_certificate_verification(true);
    if (!options.ca_file.empty()) endpoint->client->set_ca_cert_path(options.ca_file);
  }
  return std::shared_ptr<Tracer>(new Tracer(std::move(options), std::move(endpoint)));
}

Tracer::Tracer(TracerOptions options, std::unique_ptr<Endpoint> endpoint)
    : options_(std::move(options)), endpoint_(std::move(endpoint)), thread_([this] { Run(); }) {}

Tracer::~Tracer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool Tracer::ShouldSample(const TraceContext* parent, std::string_view trace_id) const {
  std::string_view root = options_.sampler;
  if (root.starts_with("parentbased_")) {
    if (parent != nullptr) return parent->sampled;
    root.remove_prefix(std::string_view("parentbased_").size());
  }
  if (root == "always_on") return true;
  if (root == "always_off") return false;
  // traceidratio: the trace id's last 16 hex digits as a uniform number,
  // so every process decides the same for one trace.
  if (trace_id.size() != 32) return false;
  const uint64_t value = std::stoull(std::string(trace_id.substr(16)), nullptr, 16);
  return static_cast<long double>(value) <
         static_cast<long double>(options_.sampler_ratio) * static_cast<long double>(std::numeric_limits<uint64_t>::max());
}

void Tracer::Export(Span span) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() >= options_.max_queue_size) {
      dropped_.fetch_add(1);
      return;
    }
    queue_.push_back(std::move(span));
    wake = queue_.size() >= options_.max_export_batch_size;
  }
  if (wake) wake_.notify_one();
}

void Tracer::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait_for(lock, options_.schedule_delay,
                   [this] { return stopping_ || queue_.size() >= options_.max_export_batch_size; });
    const bool stopping = stopping_;
    while (!queue_.empty()) {
      const size_t count = std::min(queue_.size(), options_.max_export_batch_size);
      std::vector<Span> batch(std::make_move_iterator(queue_.begin()),
                              std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(count)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(count));
      ++in_flight_;
      lock.unlock();
      const bool sent = Send(std::move(batch));
      lock.lock();
      --in_flight_;
      idle_.notify_all();
      if (!sent && stopping) {
        // Shutting down with the backend gone: give up on the rest.
        dropped_.fetch_add(static_cast<int64_t>(queue_.size()));
        queue_.clear();
      }
      if (!stopping && queue_.size() < options_.max_export_batch_size) break;
    }
    if (stopping) return;
  }
}

bool Tracer::Flush() {
  std::vector<Span> spans;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    spans.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
  }
  bool all = true;
  for (size_t begin = 0; begin < spans.size(); begin += options_.max_export_batch_size) {
    const size_t end = std::min(spans.size(), begin + options_.max_export_batch_size);
    std::vector<Span> batch(std::make_move_iterator(spans.begin() + static_cast<std::ptrdiff_t>(begin)),
                            std::make_move_iterator(spans.begin() + static_cast<std::ptrdiff_t>(end)));
    all = Send(std::move(batch)) && all;
  }
  // A batch the export thread took before is sent (or failed) too.
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return in_flight_ == 0; });
  return all;
}

bool Tracer::Send(std::vector<Span> batch) {
  if (batch.empty()) return true;
  const std::string body = OtlpJson(batch, options_);
  httplib::Headers headers;
  for (const auto& [key, value] : options_.headers) headers.emplace(key, value);
  std::lock_guard<std::mutex> lock(send_mutex_);
  const httplib::Result result = endpoint_->client->Post(endpoint_->path, headers, body, "application/json");
  const auto count = static_cast<int64_t>(batch.size());
  if (result && result->status >= 200 && result->status < 300) {
    exported_.fetch_add(count);
    return true;
  }
  dropped_.fetch_add(count);
  const auto now = std::chrono::steady_clock::now();
  if (last_warning_ == std::chrono::steady_clock::time_point{} || now - last_warning_ > std::chrono::minutes(1)) {
    last_warning_ = now;
    FD_LOG(kWarning) << "could not export " << count << " spans to " << options_.endpoint << ": "
                     << (result ? "HTTP " + std::to_string(result->status) : httplib::to_string(result.error()))
                     << " (further failures in the next minute are counted, not logged)";
  }
  return false;
}

std::string OtlpJson(const std::vector<Span>& spans, const TracerOptions& options) {
  auto attribute = [](const std::string& key, const Span::Value& value) {
    json any;
    if (const auto* text = std::get_if<std::string>(&value)) any["stringValue"] = *text;
    if (const auto* number = std::get_if<int64_t>(&value)) any["intValue"] = std::to_string(*number);
    if (const auto* real = std::get_if<double>(&value)) any["doubleValue"] = *real;
    if (const auto* flag = std::get_if<bool>(&value)) any["boolValue"] = *flag;
    return json{{"key", key}, {"value", std::move(any)}};
  };
  auto nanos = [](std::chrono::system_clock::time_point time) {
    return std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count());
  };
  json resource = json::array({attribute("service.name", options.service_name),
                               attribute("telemetry.sdk.name", std::string("flightdeck")),
                               attribute("telemetry.sdk.language", std::string("cpp"))});
  for (const auto& [key, value] : options.resource_attributes) resource.push_back(attribute(key, value));
  json encoded = json::array();
  for (const Span& span : spans) {
    json one{{"traceId", span.context.trace_id},
             {"spanId", span.context.span_id},
             {"name", span.name},
             {"kind", static_cast<int>(span.kind) + 1},
             {"startTimeUnixNano", nanos(span.start)},
             {"endTimeUnixNano", nanos(span.end)}};
    if (!span.parent_span_id.empty()) one["parentSpanId"] = span.parent_span_id;
    if (!span.context.tracestate.empty()) one["traceState"] = span.context.tracestate;
    json attributes = json::array();
    for (const auto& [key, value] : span.attributes) attributes.push_back(attribute(key, value));
    one["attributes"] = std::move(attributes);
    one["status"] = span.error ? json{{"code", 2}, {"message", span.status_message}} : json{{"code", 0}};
    encoded.push_back(std::move(one));
  }
  json body{{"resourceSpans",
             json::array({json{{"resource", {{"attributes", std::move(resource)}}},
                               {"scopeSpans", json::array({json{{"scope", {{"name", "flightdeck"}}},
                                                                {"spans", std::move(encoded)}}})}}})}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace flightdeck::observe
