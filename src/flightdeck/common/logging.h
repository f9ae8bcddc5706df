// flightdeck/common/logging.h: the one logging facade of flightdeck.
//
// Call sites stream into FD_LOG(level); the backend (spdlog) stays in
// logging.cc. Lines carry stable fields (tenant, ticket, workflow id), never
// payloads or secrets.
//
//   FD_LOG(kInfo) << "node listening on " << location;
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace flightdeck {

enum class LogLevel { kDebug, kInfo, kWarning, kError, kOff };

/// Sets the minimum level written. Thread-safe.
void SetLogLevel(LogLevel level);

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
