#include "flightdeck/frame/engine.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include <arrow/c/bridge.h>
#include <arrow/record_batch.h>

#include "flightdeck/frame/arrow_scan.h"
#include "flightdeck/frame/duckdb_driver.h"
#include "flightdeck/frame/session.h"

namespace flightdeck::frame {

using internal::DuckDbDriver;
using internal::Session;
using internal::TakeMessage;

struct Engine::Database {
  const DuckDbDriver* driver = nullptr;
  AdbcDatabase handle{};
  ~Database() {
    if (handle.private_data != nullptr) {
      AdbcError error{};
      driver->adbc.DatabaseRelease(&handle, &error);
      if (error.release) error.release(&error);
    }
  }
};

namespace {

int64_t PhysicalMemory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : int64_t{8} << 30;
}

arrow::Status SetOption(const DuckDbDriver& driver, AdbcDatabase* database, const char* key,
                        const std::string& value) {
  AdbcError error{};
  if (driver.adbc.DatabaseSetOption(database, key, value.c_str(), &error) != ADBC_STATUS_OK) {
    return arrow::Status::Invalid("engine option ", key, "=", value, ": ",
                                  TakeMessage(&error, "refused"));
  }
  return arrow::Status::OK();
}

class SpillFolders;
SpillFolders& PrivateSpillFolders();

// The private spill folders of this process's engines, removed when their
// engine closes or, for the engines that live as long as the process, at
// exit.
class SpillFolders {
 public:
  SpillFolders() {
    std::atexit([] {
      auto& folders = PrivateSpillFolders();
      std::lock_guard<std::mutex> lock(folders.mutex_);
      for (const auto& folder : folders.live_) {
        std::error_code ignored;
        std::filesystem::remove_all(folder, ignored);
      }
    });
  }
  std::string Add() {
    const char* tmp = std::getenv("TMPDIR");
    std::lock_guard<std::mutex> lock(mutex_);
    std::string folder = std::string(tmp && *tmp ? tmp : "/tmp") + "/flightdeck-spill-" +
                         std::to_string(::getpid()) + "-" + std::to_string(next_++);
    live_.insert(folder);
    return folder;
  }
  void Remove(const std::string& folder) {
    std::error_code ignored;
    std::filesystem::remove_all(folder, ignored);
    std::lock_guard<std::mutex> lock(mutex_);
    live_.erase(folder);
  }

 private:
  friend SpillFolders& PrivateSpillFolders();
  std::mutex mutex_;
  std::set<std::string> live_;
  uint64_t next_ = 0;
};

SpillFolders& PrivateSpillFolders() {
  static SpillFolders* folders = new SpillFolders();  // never destroyed: used at exit
  return *folders;
}

}  // namespace

Engine::Engine(EngineOptions options, std::unique_ptr<internal::StreamRegistry> streams,
               std::unique_ptr<Database> database, bool own_spill_directory)
    : options_(std::move(options)),
      streams_(std::move(streams)),
      sessions_(std::make_unique<internal::SessionSet>()),
      database_(std::move(database)),
      own_spill_directory_(own_spill_directory) {}

Engine::~Engine() {
  database_.reset();  // DuckDB removes its spill files when the database closes
  if (own_spill_directory_) PrivateSpillFolders().Remove(options_.spill_directory);
}

arrow::Result<std::shared_ptr<Engine>> Engine::Open(EngineOptions options) {
  if (options.threads < 0 || options.memory_limit < 0) {
    return arrow::Status::Invalid("engine: threads (", options.threads, ") and memory limit (",
                                  options.memory_limit, ") must not be negative");
  }
  ARROW_ASSIGN_OR_RAISE(const DuckDbDriver* driver, internal::LoadDuckDb());
  if (options.threads == 0) options.threads = std::max(1u, std::thread::hardware_concurrency());
  if (options.memory_limit == 0) options.memory_limit = PhysicalMemory() / 10 * 8;
  bool own_spill = false;
  if (options.spill_directory.empty()) {
    // Made by DuckDB only when a query spills; removed with the engine, or
    // at exit for engines that live as long as the process.
    options.spill_directory = PrivateSpillFolders().Add();
    own_spill = true;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(options.spill_directory, ec);
    if (ec) {
      return arrow::Status::IOError("engine: cannot make the spill folder '",
                                    options.spill_directory, "': ", ec.message());
    }
  }

  auto database = std::make_unique<Database>();
  database->driver = driver;
  AdbcError error{};
  if (driver->adbc.DatabaseNew(&database->handle, &error) != ADBC_STATUS_OK) {
    return arrow::Status::IOError("engine: ", TakeMessage(&error, "cannot create a database"));
  }
  auto* handle = &database->handle;
  ARROW_RETURN_NOT_OK(SetOption(*driver, handle, "path", ":memory:"));
  ARROW_RETURN_NOT_OK(SetOption(*driver, handle, "threads", std::to_string(options.threads)));
  ARROW_RETURN_NOT_OK(
      SetOption(*driver, handle, "memory_limit", std::to_string(options.memory_limit) + " bytes"));
  ARROW_RETURN_NOT_OK(SetOption(*driver, handle, "temp_directory", options.spill_directory));
  if (options.encrypt_spill) {
    ARROW_RETURN_NOT_OK(SetOption(*driver, handle, "temp_file_encryption", "true"));
  }
  ARROW_RETURN_NOT_OK(SetOption(*driver, handle, "preserve_insertion_order",
                                options.preserve_insertion_order ? "true" : "false"));
  // No network here: never try to download an extension.
  ARROW_RETURN_NOT_OK(SetOption(*driver, handle, "autoinstall_known_extensions", "false"));
  if (!options.external_access) {
    ARROW_RETURN_NOT_OK(SetOption(*driver, handle, "enable_external_access", "false"));
  }
  if (driver->adbc.DatabaseInit(handle, &error) != ADBC_STATUS_OK) {
    return arrow::Status::IOError("engine: cannot open DuckDB: ",
                                  TakeMessage(&error, "no reason given"));
  }
  auto streams = std::make_unique<internal::StreamRegistry>(driver, options.threads);
  std::shared_ptr<Engine> engine(
      new Engine(std::move(options), std::move(streams), std::move(database), own_spill));
  // Settings that only a statement can make (they belong to extensions),
  // for every later connection: timestamps with time zone in UTC whatever
  // the machine's zone, the Parquet footer cache, and, for engines that run
  // client SQL, a configuration no statement can change.
  // And the table function that scans Arrow streams.
  ARROW_ASSIGN_OR_RAISE(auto session, engine->Connect());
  ARROW_RETURN_NOT_OK(engine->streams_->RegisterFunction(session->handle()));
  ARROW_RETURN_NOT_OK(session->Execute("SET GLOBAL TimeZone = 'UTC'"));
  // Parquet footers are parsed once per file (and file version) for all the
  // engine's queries, not once per query.
  ARROW_RETURN_NOT_OK(session->Execute("SET GLOBAL parquet_metadata_cache = true"));
  if (!engine->options_.external_access) {
    ARROW_RETURN_NOT_OK(session->Execute("SET GLOBAL lock_configuration = true"));
  }
  return engine;
}

arrow::Result<std::shared_ptr<Engine>> Engine::Default() {
  // Never destroyed: executions on other threads may outlive static
  // destruction at exit. Its spill folder goes at exit.
  static arrow::Result<std::shared_ptr<Engine>>* engine = [] {
    auto opened = Open();
    if (opened.ok()) new std::shared_ptr<Engine>(*opened);  // keep one reference forever
    return new arrow::Result<std::shared_ptr<Engine>>(std::move(opened));
  }();
  return *engine;
}

int Engine::threads() const { return streams_->threads(); }

double Engine::Progress() const {
  // DuckDB says 0 for scans it cannot follow (Arrow streams): the larger.
  return std::max(sessions_->Progress(), streams_->Progress());
}

arrow::Status Engine::SetThreads(int threads) {
  if (threads < 1) return arrow::Status::Invalid("engine: threads must be at least 1, not ", threads);
  if (threads == streams_->threads()) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto session, Connect());
  ARROW_RETURN_NOT_OK(session->Execute("SET GLOBAL threads = " + std::to_string(threads)));
  streams_->set_threads(threads);
  return arrow::Status::OK();
}

arrow::Result<std::string> Engine::Version() {
  ARROW_ASSIGN_OR_RAISE(const DuckDbDriver* driver, internal::LoadDuckDb());
  return driver->version;
}

arrow::Result<std::unique_ptr<Session>> Engine::Connect() {
  const DuckDbDriver* driver = database_->driver;
  AdbcConnection connection{};
  AdbcError error{};
  if (driver->adbc.ConnectionNew(&connection, &error) != ADBC_STATUS_OK ||
      driver->adbc.ConnectionInit(&connection, &database_->handle, &error) != ADBC_STATUS_OK) {
    std::string message = TakeMessage(&error, "no reason given");
    if (connection.private_data != nullptr) driver->adbc.ConnectionRelease(&connection, &error);
    return arrow::Status::IOError("engine: cannot connect: ", message);
  }
  auto session = std::make_unique<Session>(driver, streams_.get(), connection,
                                           options_.memory_limit, sessions_.get());
  // With track_progress, running queries' progress is tracked
  // (Engine::Progress), never printed: settings of a connection, not of the
  // database. Not on engines whose configuration is locked (they run client
  // SQL; their progress is not read).
  if (options_.track_progress && options_.external_access) {
    ARROW_RETURN_NOT_OK(
        session->Execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false"));
  }
  return session;
}

// --- ScopedEngine -------------------------------------------------------------------

namespace {
thread_local const std::shared_ptr<Engine>* current_engine = nullptr;
}  // namespace

ScopedEngine::ScopedEngine(std::shared_ptr<Engine> engine)
    : engine_(std::move(engine)), previous_(current_engine) {
  current_engine = engine_ ? &engine_ : previous_;
}

ScopedEngine::~ScopedEngine() { current_engine = previous_; }

const std::shared_ptr<Engine>* ScopedEngine::Current() { return current_engine; }

// --- EnginePool -------------------------------------------------------------------

arrow::Result<std::unique_ptr<EnginePool>> EnginePool::Open(int count, const EngineOptions& options) {
  if (count < 1) return arrow::Status::Invalid("engine pool: need at least one engine, got ", count);
  std::unique_ptr<EnginePool> pool(new EnginePool());
  for (int i = 0; i < count; ++i) {
    EngineOptions one = options;
    if (!one.spill_directory.empty()) {
      one.spill_directory = (std::filesystem::path(options.spill_directory) /
                             ("engine-" + std::to_string(i))).string();
    }
    ARROW_ASSIGN_OR_RAISE(auto engine, Engine::Open(std::move(one)));
    pool->all_.push_back(engine);
    pool->free_.push_back(engine);
  }
  return pool;
}

EnginePool::Lease EnginePool::Acquire() {
  std::unique_lock<std::mutex> lock(mutex_);
  freed_.wait(lock, [&] { return !free_.empty(); });
  auto engine = std::move(free_.back());
  free_.pop_back();
  return Lease(this, std::move(engine));
}

void EnginePool::Release(std::shared_ptr<Engine> engine) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(engine));
  }
  freed_.notify_one();
}

EnginePool::Lease::~Lease() {
  if (pool_ != nullptr && engine_) pool_->Release(std::move(engine_));
}

// --- byte sizes ---------------------------------------------------------------------

arrow::Result<int64_t> ParseByteSize(const std::string& text) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (...) {
    return arrow::Status::Invalid("'", text, "' is not a byte size (e.g. 512MiB, 4GB, 1048576)");
  }
  std::string unit;
  for (size_t i = pos; i < text.size(); ++i) {
    if (!std::isspace(static_cast<unsigned char>(text[i]))) {
      unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    }
  }
  double scale = 1;
  if (!unit.empty() && unit != "b") {
    if (unit.back() == 'b') unit.pop_back();
    if (!unit.empty() && unit.back() == 'i') unit.pop_back();
    static const std::string kUnits = "kmgt";
    const auto at = unit.size() == 1 ? kUnits.find(unit[0]) : std::string::npos;
    if (at == std::string::npos) {
      return arrow::Status::Invalid("'", text, "': unknown unit (expected K, M, G or T, e.g. 512MiB)");
    }
    scale = std::pow(1024.0, static_cast<double>(at + 1));
  }
  const double bytes = value * scale;
  if (!(bytes >= 0) || bytes > 9.0e18) {
    return arrow::Status::Invalid("'", text, "' is not a byte size between 0 and 8 EiB");
  }
  return static_cast<int64_t>(bytes);
}

}  // namespace flightdeck::frame
