// flightdeck/common/logging.h: the one logging facade of flightdeck.
//
// Call sites stream into FD_LOG(level); the backend (spdlog) stays in
// logging.cc. Lines carry stable fields (tenant, ticket, workflow id), never
// payloads or secrets.
//
//   FD_LOG(kInfo) << "node listening on " << location;
//
// Text lines by default; with SetLogFormat(kJson) (`--log-format json`) one
// JSON object per line: time, level, logger, message, and the fields of the
// thread's LogContext (workflow and run id of the task being handled) and
// the trace and span id of its current trace context, when there are.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace flightdeck {

enum class LogLevel { kDebug, kInfo, kWarning, kError, kOff };

/// Sets the minimum level written. Thread-safe.
void SetLogLevel(LogLevel level);

enum class LogFormat { kText, kJson };
/// Text (the default) or one JSON object per line. Call before threads start.
void SetLogFormat(LogFormat format);

/// What the current thread works on, for the JSON lines it logs; empty
/// fields are left out. (Trace and span ids come from the thread's
/// CurrentTraceContext(), trace_context.h.)
struct LogContext {
  std::string workflow_id;
  std::string run_id;
  std::string workflow_type;
  std::string activity_type;
  std::string activity_id;
};

/// Sets the thread's LogContext while it lives (nesting restores the outer
/// one).
class ScopedLogContext {
 public:
  explicit ScopedLogContext(LogContext context);
  ~ScopedLogContext();
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  LogContext context_;
  const LogContext* outer_;
};

/// Parses "debug", "info", "warn", "error", "off" (case-insensitive).
/// Unknown names give kInfo.
LogLevel ParseLogLevel(std::string_view name);

/// True when a message at `level` would be written. Thread-safe.
bool LogEnabled(LogLevel level);

/// Writes one line to stderr at `level`. Thread-safe.
void Log(LogLevel level, std::string_view message);

namespace internal {

// Collects one message and writes it when destroyed.
class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { Log(level_, stream_.str()); }
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Turns the streamed expression into void so FD_LOG fits in a ?: expression.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace internal
}  // namespace flightdeck

#define FD_LOG(level)                                            \
  !::flightdeck::LogEnabled(::flightdeck::LogLevel::level)       \
      ? (void)0                                                  \
      : ::flightdeck::internal::LogVoidify() &                   \
            ::flightdeck::internal::LogMessage(::flightdeck::LogLevel::level).stream()
