// flightdeck/frame/engine.h: the embedded DuckDB database a DataFrame
// executes on, with its resources.
//
// An Engine is one in-process DuckDB database, opened through Arrow's ADBC
// API, with a thread count, a memory limit and a spill directory of its own.
// Every execution (a DataFrame sink) opens its own connection to an engine,
// registers the Arrow streams the plan reads (arrow_scan.h), runs the plan's one
// SQL statement and streams the result back through the C data interface.
// DuckDB's memory limit and thread count are per database, so executions
// that must not share them (a worker's activity slots, a node's concurrent
// exchanges) get an engine each; EnginePool hands engines out exclusively.
//
//   ARROW_ASSIGN_OR_RAISE(auto engine, Engine::Open({.threads = 2,
//                                                    .memory_limit = 1 << 30,
//                                                    .spill_directory = "/data/spill"}));
//   ARROW_ASSIGN_OR_RAISE(auto table, frame.WithEngine(engine).Collect());
//
// A query that needs more memory than the limit spills its joins, aggregates
// and sorts to the spill directory; one that still cannot finish fails with
// OutOfMemory naming the limit. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

namespace flightdeck::frame {

namespace internal {
class Session;
class SessionSet;
class StreamRegistry;
}  // namespace internal

struct EngineOptions {
  /// Worker threads of the database; 0: the machine's cores.
  int threads = 0;
  /// Bytes the database may hold in memory before it spills (and then
  /// fails); 0: 80% of the machine's memory, DuckDB's default.
  int64_t memory_limit = 0;
  /// Where joins, aggregates and sorts larger than the memory limit spill.
  /// Empty: a private folder under the system's temporary directory, removed
  /// when the engine closes. A given folder is made when missing, and the
  /// engine's spill files in it are removed when it closes.
  std::string spill_directory;
  /// Whether the spill files are encrypted (DuckDB's temp_file_encryption:
  /// AES-GCM under a key made per database and held in memory only).
  bool encrypt_spill = false;
  /// Whether SQL run on this engine may read or write files and the network
  /// (read_csv('/etc/...'), COPY, ATTACH). Off for SQL that comes from
  /// clients, such as a data node's exchanges; plans with file sources need
  /// it on. Once off, no statement can turn it on again.
  bool external_access = true;
  /// Row order: scans, filters and projections keep their input's order
  /// (DataFrame's "Row order" contract relies on it).
  bool preserve_insertion_order = true;
  /// Whether Progress() can follow file scans: DuckDB tracks its queries'
  /// progress on every connection (a setting per connection, about a
  /// millisecond per query). Off: Progress() sees Arrow stream scans only.
  bool track_progress = false;
};

/// One embedded DuckDB database. See the file comment.
class Engine {
 public:
  /// Opens a database with `options`. Fails with Invalid for negative
  /// figures, IOError when the engine library cannot be loaded or the spill
  /// folder cannot be made.
  static arrow::Result<std::shared_ptr<Engine>> Open(EngineOptions options = {});
  /// The process-wide engine DataFrames run on unless WithEngine says
  /// otherwise: every core, DuckDB's default memory limit, a private spill
  /// folder. Fails only when the engine library cannot be loaded.
  static arrow::Result<std::shared_ptr<Engine>> Default();

  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// The options in effect (threads and memory_limit resolved, the spill
  /// folder's path filled in).
  const EngineOptions& options() const { return options_; }
  /// Threads the engine's queries use now (options().threads until
  /// SetThreads).
  int threads() const;
  /// Changes the threads of the engine's later queries (at least 1). For an
  /// engine with one user at a time between its queries (a leased pool
  /// engine): a query that runs meanwhile may keep its old parallelism.
  /// With one thread a query's result, row order and floating-point
  /// rounding included, depends only on its inputs. Invalid below 1;
  /// fails on an engine whose configuration is locked (external_access off).
  arrow::Status SetThreads(int threads);

  /// How far the engine's running query is, 0 to 1: the larger of DuckDB's
  /// estimate from the rows its file scans have read (of the queries
  /// running at once, the one with the most rows to read) and the rows read
  /// of the Arrow streams being scanned whose row count is known. -1 when
  /// no query runs or neither can tell.
  /// Thread-safe.
  double Progress() const;

  /// DuckDB's version, e.g. "v1.5.6".
  static arrow::Result<std::string> Version();

  /// A new connection (internal to the frame layer).
  arrow::Result<std::unique_ptr<internal::Session>> Connect();

 private:
  struct Database;
  Engine(EngineOptions options, std::unique_ptr<internal::StreamRegistry> streams,
         std::unique_ptr<Database> database, bool own_spill_directory);

  EngineOptions options_;
  // Declared before the database, so it outlives it (the database's scan
  // function points at it).
  std::unique_ptr<internal::StreamRegistry> streams_;
  std::unique_ptr<internal::SessionSet> sessions_;
  std::unique_ptr<Database> database_;
  bool own_spill_directory_ = false;
};

/// Within its scope, DataFrames executed on the constructing thread without
/// WithEngine run on `engine` instead of Engine::Default() (a worker sets
/// the engine of the activity slot an activity runs in, so the stage code
/// it calls needs no engine parameter). Scopes nest; not movable.
class ScopedEngine {
 public:
  explicit ScopedEngine(std::shared_ptr<Engine> engine);
  ~ScopedEngine();
  ScopedEngine(const ScopedEngine&) = delete;
  ScopedEngine& operator=(const ScopedEngine&) = delete;
  /// The innermost scope's engine on this thread, or null.
  static const std::shared_ptr<Engine>* Current();

 private:
  std::shared_ptr<Engine> engine_;
  const std::shared_ptr<Engine>* previous_;
};

/// `count` engines, each leased to one user at a time: a worker's activity
/// slots, a node's concurrent exchanges. Engine i spills to
/// `<spill_directory>/engine-<i>` when a spill folder is given.
class EnginePool {
 public:
  /// A leased engine; returned to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    const std::shared_ptr<Engine>& engine() const { return engine_; }

   private:
    friend class EnginePool;
    Lease(EnginePool* pool, std::shared_ptr<Engine> engine) : pool_(pool), engine_(std::move(engine)) {}
    EnginePool* pool_ = nullptr;
    std::shared_ptr<Engine> engine_;
  };

  /// Opens `count` engines (count >= 1) with `options` each.
  static arrow::Result<std::unique_ptr<EnginePool>> Open(int count, const EngineOptions& options);
  /// Waits until an engine is free and leases it.
  Lease Acquire();
  int size() const { return static_cast<int>(all_.size()); }

 private:
  EnginePool() = default;
  void Release(std::shared_ptr<Engine> engine);

  std::vector<std::shared_ptr<Engine>> all_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::shared_ptr<Engine>> free_;
};

/// Parses a byte count with an optional unit: "512", "64MiB", "1.5GB", "2g"
/// (K/M/G/T, with or without "i"/"B", all binary multiples). Fails with
/// Invalid naming the text.
arrow::Result<int64_t> ParseByteSize(const std::string& text);

}  // namespace flightdeck::frame
