#include "flightdeck/frame/session.h"

#include <algorithm>
#include <cstdio>

#include <arrow/c/bridge.h>
#include <arrow/type.h>

namespace flightdeck::frame::internal {

struct Session::Statement {
  const DuckDbDriver* driver = nullptr;
  AdbcStatement handle{};
  ~Statement() {
    if (handle.private_data != nullptr) {
      AdbcError error{};
      driver->adbc.StatementRelease(&handle, &error);
      if (error.release) error.release(&error);
    }
  }
};

namespace {

// A query's result: imported from ADBC's stream, holding the statement and
// the session (its connection and the streams it reads) until closed.
class ResultReader : public arrow::RecordBatchReader {
 public:
  ResultReader(std::shared_ptr<Session> session, std::shared_ptr<void> statement,
               std::shared_ptr<arrow::RecordBatchReader> inner)
      : session_(std::move(session)), statement_(std::move(statement)), inner_(std::move(inner)),
        schema_(inner_->schema()), memory_limit_(session_->memory_limit()) {}
  ~ResultReader() override { (void)Close(); }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    if (!inner_) {
      *batch = nullptr;
      return arrow::Status::OK();
    }
    auto st = inner_->ReadNext(batch);
    if (!st.ok()) {
      const arrow::Status input = session_->InputFailure();
      (void)Close();
      return input.ok() ? EngineError(st.message(), memory_limit_) : input;
    }
    if (*batch == nullptr) return Close();
    return arrow::Status::OK();
  }

  arrow::Status Close() override {
    if (!inner_) return arrow::Status::OK();
    // Releasing ADBC's stream ends the query; then the statement and the
    // session (unregistering its streams) go.
    auto st = inner_->Close();
    inner_.reset();
    statement_.reset();
    session_.reset();
    return st;
  }

 private:
  std::shared_ptr<Session> session_;
  std::shared_ptr<void> statement_;
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  std::shared_ptr<arrow::Schema> schema_;
  int64_t memory_limit_;
};

bool StartsWith(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

void SessionSet::Add(Session* session) {
  std::lock_guard<std::mutex> lock(mutex_);
  sessions_.insert(session);
}

void SessionSet::Remove(Session* session) {
  std::lock_guard<std::mutex> lock(mutex_);
  sessions_.erase(session);
}

double SessionSet::Progress() const {
  std::lock_guard<std::mutex> lock(mutex_);
  double fraction = -1;
  uint64_t largest = 0;
  for (const Session* session : sessions_) {
    const auto progress = session->Progress();
    if (progress.percentage < 0) continue;
    if (fraction < 0 || progress.total_rows_to_process > largest) {
      largest = progress.total_rows_to_process;
      fraction = std::min(1.0, progress.percentage / 100.0);
    }
  }
  return fraction;
}

Session::Session(const DuckDbDriver* driver, StreamRegistry* streams, AdbcConnection connection,
                 int64_t memory_limit, SessionSet* sessions)
    : driver_(driver),
      connection_(connection),
      streams_(streams),
      memory_limit_(memory_limit),
      sessions_(sessions) {
  if (sessions_ != nullptr) sessions_->Add(this);
}

Session::~Session() {
  if (sessions_ != nullptr) sessions_->Remove(this);
  for (int64_t id : stream_ids_) streams_->Remove(id);
  AdbcError error{};
  driver_->adbc.ConnectionRelease(&connection_, &error);
  if (error.release) error.release(&error);
}

arrow::Result<std::string> Session::Scan(std::shared_ptr<arrow::RecordBatchReader> reader, int64_t rows) {
  if (reader->schema()->num_fields() == 0) {
    return arrow::Status::Invalid("a source with no columns cannot be queried");
  }
  const int64_t id = streams_->Add(std::move(reader), ConnectionHandle(connection_), rows);
  stream_ids_.push_back(id);
  return "fd_arrow_scan(" + std::to_string(id) + ")";
}

arrow::Status Session::InputFailure() const {
  for (int64_t id : stream_ids_) {
    auto entry = streams_->Find(id);
    if (!entry) continue;
    std::lock_guard<std::mutex> lock(entry->failure_mutex);
    if (!entry->failure.ok()) return entry->failure;
  }
  return arrow::Status::OK();
}

arrow::Result<std::string> Session::ScanEmpty(std::shared_ptr<arrow::Schema> schema) {
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::RecordBatchReader::Make({}, std::move(schema)));
  return Scan(std::move(reader), 0);
}

arrow::Result<std::unique_ptr<Session::Statement>> Session::Prepare(const std::string& sql) {
  auto statement = std::make_unique<Statement>();
  statement->driver = driver_;
  AdbcError error{};
  if (driver_->adbc.StatementNew(&connection_, &statement->handle, &error) != ADBC_STATUS_OK) {
    return arrow::Status::IOError("engine: ", TakeMessage(&error, "cannot create a statement"));
  }
  if (driver_->adbc.StatementSetSqlQuery(&statement->handle, sql.c_str(), &error) != ADBC_STATUS_OK) {
    last_error_ = TakeMessage(&error, "the engine refused the statement");
    return EngineError(last_error_, memory_limit_);
  }
  return statement;
}

arrow::Result<std::shared_ptr<arrow::Schema>> Session::Schema(const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto statement, Prepare(sql));
  ArrowSchema schema{};
  AdbcError error{};
  if (driver_->adbc.StatementExecuteSchema(&statement->handle, &schema, &error) != ADBC_STATUS_OK) {
    last_error_ = TakeMessage(&error, "the engine cannot tell the result schema");
    return EngineError(last_error_, memory_limit_);
  }
  return arrow::ImportSchema(&schema);
}

arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> Session::Query(
    std::shared_ptr<Session> session, const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto statement, session->Prepare(sql));
  ArrowArrayStream stream{};
  AdbcError error{};
  if (session->driver_->adbc.StatementExecuteQuery(&statement->handle, &stream, nullptr, &error) !=
      ADBC_STATUS_OK) {
    const std::string message = TakeMessage(&error, "the engine failed to run the statement");
    const arrow::Status input = session->InputFailure();
    return input.ok() ? EngineError(message, session->memory_limit_) : input;
  }
  auto imported = arrow::ImportRecordBatchReader(&stream);
  if (!imported.ok()) return EngineError(imported.status().message(), session->memory_limit_);
  std::shared_ptr<void> held(statement.release(), [](void* p) { delete static_cast<Statement*>(p); });
  return std::make_unique<ResultReader>(std::move(session), std::move(held), *std::move(imported));
}

arrow::Status Session::Execute(const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto statement, Prepare(sql));
  AdbcError error{};
  int64_t rows = 0;
  if (driver_->adbc.StatementExecuteQuery(&statement->handle, nullptr, &rows, &error) !=
      ADBC_STATUS_OK) {
    const std::string message = TakeMessage(&error, "the engine failed to run the statement");
    const arrow::Status input = InputFailure();
    return input.ok() ? EngineError(message, memory_limit_) : input;
  }
  return arrow::Status::OK();
}

DuckDbCApi::QueryProgress Session::Progress() const {
  return driver_->c.query_progress(ConnectionHandle(connection_));
}

void Session::Cancel() {
  AdbcError error{};
  driver_->adbc.ConnectionCancel(&connection_, &error);
  if (error.release) error.release(&error);
}

std::string FormatBytes(int64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buffer;
}

arrow::Status EngineError(const std::string& raw, int64_t memory_limit) {
  std::string message = raw;
  // Arrow's import of a stream error prefixes nothing, DuckDB's ADBC driver
  // sometimes "Failed to execute query ...: " with the whole SQL.
  if (StartsWith(message, "Failed to execute query")) {
    const auto colon = message.find("\": ");
    if (colon != std::string::npos) message = message.substr(colon + 3);
  }
  for (const char* marker : {"\n\nLINE ", "\nLINE "}) {
    const auto at = message.find(marker);
    if (at != std::string::npos) message.resize(at);
  }
  // Advice about DuckDB settings a flightdeck user cannot reach.
  for (const char* advice : {"\n\nPossible solutions:", "\n\nUse \"SET "}) {
    const auto at = message.find(advice);
    if (at != std::string::npos) message.resize(at);
  }
  if (message.find("More than one row returned by a subquery used as an expression") != std::string::npos) {
    return arrow::Status::Invalid("a scalar sub-plan (or scalar subquery) gave more than one row; it must give "
                                  "at most one");
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();

  if (StartsWith(message, "Out of Memory Error")) {
    if (memory_limit <= 0) return arrow::Status::OutOfMemory(message);
    return arrow::Status::OutOfMemory("the query needs more memory than the engine's limit of ",
                                      FormatBytes(memory_limit),
                                      " even after spilling joins, aggregates and sorts to disk; "
                                      "raise the memory limit (",
                                      message, ")");
  }
  // The engine's error class ("Binder Error: ") becomes the status code;
  // the message keeps what the user can act on.
  auto without = [&](const std::string& kind) {
    return message.size() > kind.size() + 1 && message.compare(kind.size(), 2, ": ") == 0
               ? message.substr(kind.size() + 2)
               : message.substr(kind.size());
  };
  if (StartsWith(message, "IO Error")) return arrow::Status::IOError(without("IO Error"));
  if (StartsWith(message, "INTERRUPT Error") || message.find("Interrupted") != std::string::npos) {
    return arrow::Status::Cancelled(message);
  }
  for (const char* kind : {"Parser Error", "Binder Error", "Catalog Error", "Conversion Error",
                           "Invalid Input Error", "Not implemented Error", "Mismatch Type Error",
                           "Out of Range Error", "Constraint Error", "Permission Error",
                           "Invalid Error", "Syntax Error"}) {
    if (StartsWith(message, kind)) return arrow::Status::Invalid(without(kind));
  }
  return arrow::Status::UnknownError(message);
}

}  // namespace flightdeck::frame::internal
