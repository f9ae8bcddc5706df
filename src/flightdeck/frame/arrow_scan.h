// flightdeck/frame/arrow_scan.h: Arrow streams as tables of an engine.
// Internal to the frame layer.
//
// Every engine has the table function fd_arrow_scan(id) (registered through
// DuckDB's C API). A session adds a RecordBatchReader to its engine's
// registry and gets an id; its statement reads the stream as
//   SELECT ... FROM fd_arrow_scan(4711) ...
// The scan converts batches vector by vector (2048 rows) with DuckDB's own
// Arrow conversion (zero-copy for fixed-width columns) and only the columns
// the statement uses (projection pushdown; filters are applied by DuckDB
// above the scan). Batches are read one at a time under a lock; conversion
// runs on DuckDB's threads in parallel when the query does not need the
// input order, on one thread when it does (DuckDB's order preservation needs
// batch indices, which the C API cannot give).
//
// A stream is readable only from the connection that added it, and only
// once: a second scan of it fails instead of seeing no rows.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "flightdeck/frame/duckdb_driver.h"

namespace flightdeck::frame::internal {

class StreamRegistry {
 public:
  struct Entry {
    std::shared_ptr<arrow::RecordBatchReader> reader;
    std::shared_ptr<arrow::Schema> schema;
    void* connection = nullptr;  // duckdb_connection that may read it
    uint64_t connection_id = 0;
    int64_t rows = -1;  // known row count, or -1
    std::atomic<bool> claimed{false};
    std::atomic<int64_t> read{0};  // rows taken from `reader` so far
    // The reader's error, as it gave it: the engine only sees its message,
    // and a query that failed on it reports this status instead.
    std::mutex failure_mutex;
    arrow::Status failure;
  };

  StreamRegistry(const DuckDbDriver* driver, int threads) : driver_(driver), threads_(threads) {}

  /// Registers fd_arrow_scan in the database behind `connection` (a
  /// duckdb_connection). Once per engine, before any Add.
  arrow::Status RegisterFunction(void* connection);

  /// Makes `reader` readable as fd_arrow_scan(<returned id>) from
  /// `connection` (a duckdb_connection); `rows` is its row count when known
  /// (the optimizer's estimate), else -1.
  int64_t Add(std::shared_ptr<arrow::RecordBatchReader> reader, void* connection, int64_t rows);
  void Remove(int64_t id);

  /// The fraction of rows read so far over the streams being scanned whose
  /// row count is known, or -1 when none is. Thread-safe.
  double Progress();

  // For the table function's callbacks.
  std::shared_ptr<Entry> Find(int64_t id);
  const DuckDbDriver* driver() const { return driver_; }
  int threads() const { return threads_.load(); }
  void set_threads(int threads) { threads_.store(threads); }

 private:
  const DuckDbDriver* driver_;
  std::atomic<int> threads_;
  std::mutex mutex_;
  std::map<int64_t, std::shared_ptr<Entry>> entries_;
};

}  // namespace flightdeck::frame::internal
