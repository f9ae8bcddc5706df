// flightdeck/frame/duckdb_driver.h: DuckDB's shared library, loaded as an
// ADBC driver. Internal to the frame layer; the rest of flightdeck sees only
// Engine (engine.h).
//
// libduckdb.so exports about 57,000 symbols, vendored ICU, re2 and
// fmt among them. It is opened with dlopen(RTLD_LOCAL | RTLD_DEEPBIND): its
// symbols never become visible to the process (so they cannot interpose
// Arrow's or the system's), and its own references bind inside it first (so
// Arrow's cannot interpose its). Nothing links against it.
//
// Databases, connections, statements and results go through ADBC. Arrow
// streams go in through a table function of our own (arrow_scan.h) built on
// DuckDB's stable C API, because ADBC can only ingest a stream into a table
// (a copy through an appender on one thread, about 4x slower than scanning
// it in place), and DuckDB's C-API arrow_scan views assume the producer
// applies their projection and filters (it does not: wrong columns, dropped
// filters). The few C API functions used are declared here with opaque
// handles; their C ABI is DuckDB's stable one.
//
// The library is the one the build was configured with
// (FLIGHTDECK_DUCKDB_LIBRARY, compiled in), unless the environment variable
// FLIGHTDECK_DUCKDB_LIBRARY names another.
#pragma once

#include <cstdint>
#include <string>

#include <arrow/c/abi.h>
#include <arrow/result.h>

#include <arrow-adbc/adbc.h>

namespace flightdeck::frame::internal {

/// The subset of DuckDB's C API the frame layer calls, with handles as
/// void* (duckdb_connection, duckdb_table_function, duckdb_bind_info, ...).
struct DuckDbCApi {
  using Handle = void*;
  using BindFn = void (*)(Handle info);
  using InitFn = void (*)(Handle info);
  using ScanFn = void (*)(Handle info, Handle output_chunk);
  using DeleteFn = void (*)(void* data);

  Handle (*create_table_function)() = nullptr;
  void (*destroy_table_function)(Handle* function) = nullptr;
  void (*table_function_set_name)(Handle function, const char* name) = nullptr;
  void (*table_function_add_parameter)(Handle function, Handle logical_type) = nullptr;
  void (*table_function_set_extra_info)(Handle function, void* extra, DeleteFn destroy) = nullptr;
  void (*table_function_set_bind)(Handle function, BindFn bind) = nullptr;
  void (*table_function_set_init)(Handle function, InitFn init) = nullptr;
  void (*table_function_set_local_init)(Handle function, InitFn init) = nullptr;
  void (*table_function_set_function)(Handle function, ScanFn scan) = nullptr;
  void (*table_function_supports_projection_pushdown)(Handle function, bool pushdown) = nullptr;
  int (*register_table_function)(Handle connection, Handle function) = nullptr;
  void (*table_function_get_client_context)(Handle bind_info, Handle* context) = nullptr;
  uint64_t (*client_context_get_connection_id)(Handle context) = nullptr;
  void (*destroy_client_context)(Handle* context) = nullptr;
  void (*connection_get_client_context)(Handle connection, Handle* context) = nullptr;

  void* (*bind_get_extra_info)(Handle info) = nullptr;
  Handle (*bind_get_parameter)(Handle info, uint64_t index) = nullptr;
  void (*bind_add_result_column)(Handle info, const char* name, Handle logical_type) = nullptr;
  void (*bind_set_bind_data)(Handle info, void* data, DeleteFn destroy) = nullptr;
  void (*bind_set_cardinality)(Handle info, uint64_t rows, bool exact) = nullptr;
  void (*bind_set_error)(Handle info, const char* error) = nullptr;
  void* (*init_get_bind_data)(Handle info) = nullptr;
  void (*init_set_init_data)(Handle info, void* data, DeleteFn destroy) = nullptr;
  uint64_t (*init_get_column_count)(Handle info) = nullptr;
  uint64_t (*init_get_column_index)(Handle info, uint64_t index) = nullptr;
  void (*init_set_max_threads)(Handle info, uint64_t threads) = nullptr;
  void (*init_set_error)(Handle info, const char* error) = nullptr;
  void* (*function_get_init_data)(Handle info) = nullptr;
  void* (*function_get_local_init_data)(Handle info) = nullptr;
  void (*function_set_error)(Handle info, const char* error) = nullptr;

  int64_t (*get_int64)(Handle value) = nullptr;
  void (*destroy_value)(Handle* value) = nullptr;
  Handle (*create_logical_type)(int type) = nullptr;
  void (*destroy_logical_type)(Handle* type) = nullptr;

  Handle (*schema_from_arrow)(Handle connection, ArrowSchema* schema, Handle* converted) = nullptr;
  void (*destroy_arrow_converted_schema)(Handle* converted) = nullptr;
  Handle (*data_chunk_from_arrow)(Handle connection, ArrowArray* array, Handle converted,
                                  Handle* chunk) = nullptr;
  void (*destroy_data_chunk)(Handle* chunk) = nullptr;
  uint64_t (*data_chunk_get_column_count)(Handle chunk) = nullptr;
  Handle (*data_chunk_get_vector)(Handle chunk, uint64_t column) = nullptr;
  void (*data_chunk_set_size)(Handle chunk, uint64_t size) = nullptr;
  void (*vector_reference_vector)(Handle to, Handle from) = nullptr;
  Handle (*vector_get_column_type)(Handle vector) = nullptr;
  const char* (*error_data_message)(Handle error) = nullptr;
  void (*destroy_error_data)(Handle* error) = nullptr;
  /// duckdb_query_progress_type.
  struct QueryProgress {
    double percentage;  // -1: no query, or its progress cannot be told
    uint64_t rows_processed;
    uint64_t total_rows_to_process;
  };
  QueryProgress (*query_progress)(Handle connection) = nullptr;

  /// DUCKDB_TYPE_BIGINT of enum DUCKDB_TYPE.
  static constexpr int kBigint = 5;
  /// Rows of a DuckDB vector (STANDARD_VECTOR_SIZE of the release builds).
  static constexpr int64_t kVectorSize = 2048;
};

/// The loaded library.
struct DuckDbDriver {
  AdbcDriver adbc{};
  DuckDbCApi c;
  /// DuckDB's version, e.g. "v1.5.6".
  std::string version;
  /// The file loaded.
  std::string path;
};

/// Loads the library once per process (thread-safe) and returns it. Fails
/// with IOError naming the path when it cannot be opened, lacks a function
/// used here, or is a DuckDB version whose ADBC connection layout is not the
/// one ConnectionHandle relies on.
arrow::Result<const DuckDbDriver*> LoadDuckDb();

/// The DuckDB connection (duckdb_connection) behind an initialized ADBC
/// connection of this driver, for the C API calls above. DuckDB's ADBC
/// driver keeps it as the first member of the connection's private data
/// (common/adbc/wrappers.hpp, DuckDBAdbcConnectionWrapper, unchanged from 1.3
/// to 1.5); LoadDuckDb accepts only the versions checked to have that layout.
void* ConnectionHandle(const AdbcConnection& connection);

/// The message of an ADBC error (released afterwards), or `fallback` when the
/// driver gave none.
std::string TakeMessage(AdbcError* error, const char* fallback);

/// The message of a duckdb_error_data (destroyed afterwards).
std::string TakeMessage(const DuckDbCApi& c, void* error_data);

}  // namespace flightdeck::frame::internal
