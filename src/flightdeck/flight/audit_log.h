// flightdeck/flight/audit_log.h: the data node's tamper-evident audit log.
//
// One JSON object per line and per call: seq, time, principal, tenant,
// action (the Flight method, or the action's name), dataset, rows, bytes,
// code (the gRPC status name), peer, trace_id (of a W3C traceparent header,
// else null), and hmac. Each line's hmac is
// HMAC-SHA256 under the audit key of the previous line's hmac, a newline and
// the line's JSON without its hmac, so a line edited, deleted or moved breaks
// the chain from there on: VerifyAuditLog names the first such line. A node
// restarted on the same file continues the chain.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <arrow/result.h>
#include <arrow/status.h>
#include <nlohmann/json.hpp>

namespace flightdeck::flight {

class AuditLog {
 public:
  /// Opens (or creates, 0600) `path` for appending, continuing the chain of
  /// what it holds. The key is the content of `key_file`, which is created
  /// with a fresh random key (0600) when it does not exist. IOError when
  /// either cannot be read or written.
  static arrow::Result<std::unique_ptr<AuditLog>> Open(const std::string& path, const std::string& key_file);
  ~AuditLog();

  /// Appends `record` (its seq, time and hmac are set here). Thread-safe.
  /// Once a write failed every later Append fails too, until a restart.
  arrow::Status Append(nlohmann::json record);
  /// Whether every line so far was written.
  bool healthy() const;

 private:
  AuditLog(int fd, std::string key, int64_t seq, std::string last_hmac);
  mutable std::mutex mutex_;
  int fd_;
  const std::string key_;
  int64_t seq_;
  std::string last_hmac_;
  arrow::Status failed_;
};

/// The outcome of verifying an audit log.
struct AuditVerdict {
  int64_t lines = 0;
  /// Empty when the whole chain holds; else what is wrong and where
  /// ("line 7: edited ...").
  std::string problem;
};

/// Checks the chain of the audit log at `path` under the key in `key_file`.
arrow::Result<AuditVerdict> VerifyAuditLog(const std::string& path, const std::string& key_file);

}  // namespace flightdeck::flight
