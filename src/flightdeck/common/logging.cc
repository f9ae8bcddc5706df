#include "flightdeck/common/logging.h"

#include "flightdeck/common/clock.h"
#include "flightdeck/common/trace_context.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cctype>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace flightdeck {
namespace {

spdlog::logger& Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("flightdeck");
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
    l->set_level(spdlog::level::info);
    return l;
  }();
  return *logger;
}

std::atomic<bool> json_format{false};
thread_local const LogContext* current_context = nullptr;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "info";
}

// One JSON log line: time (UTC, milliseconds), level, logger, message and
// the thread's context.
std::string JsonLine(LogLevel level, std::string_view message) {
  nlohmann::json line{
      {"time", UtcTimestampMillis()}, {"level", LevelName(level)}, {"logger", "flightdeck"}, {"message", message}};
  if (const LogContext* context = current_context) {
    for (const auto& [key, value] :
         {std::pair{"workflow_id", &context->workflow_id}, {"run_id", &context->run_id},
          {"workflow_type", &context->workflow_type}, {"activity_type", &context->activity_type},
          {"activity_id", &context->activity_id}}) {
      if (!value->empty()) line[key] = *value;
    }
  }
  if (const TraceContext* trace = CurrentTraceContext()) {
    line["trace_id"] = trace->trace_id;
    line["span_id"] = trace->span_id;
  }
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarning: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
    case LogLevel::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

void SetLogLevel(LogLevel level) { Logger().set_level(ToSpdlog(level)); }

void SetLogFormat(LogFormat format) {
  json_format = format == LogFormat::kJson;
  Logger().set_pattern(json_format ? "%v" : "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
}

ScopedLogContext::ScopedLogContext(LogContext context) : context_(std::move(context)), outer_(current_context) {
  current_context = &context_;
}

ScopedLogContext::~ScopedLogContext() { current_context = outer_; }

LogLevel ParseLogLevel(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "warn" || lower == "warning") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  if (lower == "off" || lower == "never") return LogLevel::kOff;
  return LogLevel::kInfo;
}

bool LogEnabled(LogLevel level) { return Logger().should_log(ToSpdlog(level)); }

void Log(LogLevel level, std::string_view message) {
  if (json_format) {
    Logger().log(ToSpdlog(level), "{}", JsonLine(level, message));
  } else {
    Logger().log(ToSpdlog(level), "{}", message);
  }
}

}  // namespace flightdeck
