// flightdeck/frame/session.h: one connection to an Engine, as one execution
// uses it. Internal to the frame layer.
//
// A session registers the Arrow streams a statement reads (arrow_scan.h),
// runs statements through ADBC and hands results back as RecordBatchReaders.
// The streams it registered go when it closes. A session is used by one
// thread at a time; a result reader keeps its session (and the streams the
// result still reads) alive until the reader is closed or destroyed.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <arrow/c/abi.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include "flightdeck/frame/arrow_scan.h"
#include "flightdeck/frame/duckdb_driver.h"

namespace flightdeck::frame::internal {

class Session;

/// The open sessions of one engine, for reading how far their queries are.
/// Thread-safe.
class SessionSet {
 public:
  void Add(Session* session);
  void Remove(Session* session);
  /// See Engine::Progress.
  double Progress() const;

 private:
  mutable std::mutex mutex_;
  std::set<Session*> sessions_;
};

class Session {
 public:
  /// `sessions` (may be null) lists this session while it is open.
  Session(const DuckDbDriver* driver, StreamRegistry* streams, AdbcConnection connection,
          int64_t memory_limit, SessionSet* sessions = nullptr);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// Makes `reader`'s batches readable by this session's statements, once;
  /// returns the table expression that reads them (fd_arrow_scan(<id>)).
  /// `rows` is the row count when known, else -1. The reader is read from
  /// DuckDB's threads, one call at a time, while a statement runs.
  arrow::Result<std::string> Scan(std::shared_ptr<arrow::RecordBatchReader> reader, int64_t rows = -1);
  /// The first error one of this session's scanned readers gave (a
  /// dropped Flight stream, a malformed file), as the reader gave it; OK
  /// when none failed. A query that fails on one reports it instead of the
  /// engine's words for it, so its code (IOError, Unavailable) survives.
  arrow::Status InputFailure() const;
  /// Scan of no rows with `schema` (binding without data).
  arrow::Result<std::string> ScanEmpty(std::shared_ptr<arrow::Schema> schema);

  /// The result schema of `sql` without running it.
  arrow::Result<std::shared_ptr<arrow::Schema>> Schema(const std::string& sql);
  /// Runs `sql`; its rows stream as they are produced. The reader holds this
  /// session: call on a session held by a shared_ptr (see Run).
  static arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> Query(
      std::shared_ptr<Session> session, const std::string& sql);
  /// Runs a statement whose result is not needed (COPY, DROP, SET).
  arrow::Status Execute(const std::string& sql);
  /// The engine's memory limit in bytes (named in out-of-memory errors).
  int64_t memory_limit() const { return memory_limit_; }
  /// The DuckDB connection behind this session (C API handle).
  void* handle() const { return ConnectionHandle(connection_); }
  /// Asks the running statement to stop (from any thread).
  void Cancel();
  /// DuckDB's estimate of the running statement's progress (from any
  /// thread): percentage -1 when none runs or it cannot tell.
  DuckDbCApi::QueryProgress Progress() const;
  /// The engine's last error message as it gave it (with its "LINE n:"
  /// excerpt of the statement, which EngineError strips), for mapping a
  /// position back into text the user wrote.
  const std::string& last_error() const { return last_error_; }

 private:
  struct Statement;
  arrow::Result<std::unique_ptr<Statement>> Prepare(const std::string& sql);

  const DuckDbDriver* driver_;
  AdbcConnection connection_;
  StreamRegistry* streams_;
  int64_t memory_limit_;
  std::string last_error_;
  std::vector<int64_t> stream_ids_;
  SessionSet* sessions_;
};

/// Turns a DuckDB error message into flightdeck's: the status code that fits
/// (OutOfMemory, Invalid for parser/binder/conversion errors, IOError for
/// files, Cancelled for interrupts, else UnknownError) and the message
/// without DuckDB's "LINE 1: <generated SQL>" excerpt, which names SQL the
/// user never wrote. Out-of-memory errors name `memory_limit` (bytes; 0:
/// unknown).
arrow::Status EngineError(const std::string& message, int64_t memory_limit = 0);

}  // namespace flightdeck::frame::internal
