#include "flightdeck/frame/duckdb_driver.h"

#include <dlfcn.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <type_traits>

namespace flightdeck::frame::internal {
namespace {

#ifndef FLIGHTDECK_DUCKDB_LIBRARY
#error "FLIGHTDECK_DUCKDB_LIBRARY must be defined by the build (cmake/FlightdeckDuckDB.cmake)"
#endif

// DuckDB versions whose ADBC connection keeps the duckdb_connection as the
// first member of its private data (checked in DuckDB's sources, 1.3 to 1.5).
bool KnownConnectionLayout(const std::string& version) {
  for (const char* prefix : {"v1.3.", "v1.4.", "v1.5."}) {
    if (version.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

arrow::Result<DuckDbDriver*> Load() {
  const char* from_env = std::getenv("FLIGHTDECK_DUCKDB_LIBRARY");
  const std::string path = from_env && *from_env ? from_env : FLIGHTDECK_DUCKDB_LIBRARY;
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return arrow::Status::IOError("cannot load the DuckDB engine from '", path,
                                  "': ", why ? why : "unknown error",
                                  " (scripts/setup fetches it; FLIGHTDECK_DUCKDB_LIBRARY overrides the path)");
  }
  auto symbol = [&](const char* name) { return ::dlsym(handle, name); };
  auto init = reinterpret_cast<AdbcDriverInitFunc>(symbol("duckdb_adbc_init"));
  auto version = reinterpret_cast<const char* (*)()>(symbol("duckdb_library_version"));
  if (init == nullptr || version == nullptr) {
    return arrow::Status::IOError("'", path,
                                  "' is not a DuckDB library with an ADBC driver (no duckdb_adbc_init)");
  }
  auto driver = std::make_unique<DuckDbDriver>();
  driver->path = path;
  driver->version = version();
  std::string missing;
  auto resolve = [&](auto& function, const char* name) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(symbol(name));
    if (function == nullptr) missing += std::string(missing.empty() ? "" : ", ") + name;
  };
  DuckDbCApi& c = driver->c;
  resolve(c.query_progress, "duckdb_query_progress");
  resolve(c.create_table_function, "duckdb_create_table_function");
  resolve(c.destroy_table_function, "duckdb_destroy_table_function");
  resolve(c.table_function_set_name, "duckdb_table_function_set_name");
  resolve(c.table_function_add_parameter, "duckdb_table_function_add_parameter");
  resolve(c.table_function_set_extra_info, "duckdb_table_function_set_extra_info");
  resolve(c.table_function_set_bind, "duckdb_table_function_set_bind");
  resolve(c.table_function_set_init, "duckdb_table_function_set_init");
  resolve(c.table_function_set_local_init, "duckdb_table_function_set_local_init");
  resolve(c.table_function_set_function, "duckdb_table_function_set_function");
  resolve(c.table_function_supports_projection_pushdown, "duckdb_table_function_supports_projection_pushdown");
  resolve(c.register_table_function, "duckdb_register_table_function");
  resolve(c.table_function_get_client_context, "duckdb_table_function_get_client_context");
  resolve(c.client_context_get_connection_id, "duckdb_client_context_get_connection_id");
  resolve(c.destroy_client_context, "duckdb_destroy_client_context");
  resolve(c.connection_get_client_context, "duckdb_connection_get_client_context");
  resolve(c.bind_get_extra_info, "duckdb_bind_get_extra_info");
  resolve(c.bind_get_parameter, "duckdb_bind_get_parameter");
  resolve(c.bind_add_result_column, "duckdb_bind_add_result_column");
  resolve(c.bind_set_bind_data, "duckdb_bind_set_bind_data");
  resolve(c.bind_set_cardinality, "duckdb_bind_set_cardinality");
  resolve(c.bind_set_error, "duckdb_bind_set_error");
  resolve(c.init_get_bind_data, "duckdb_init_get_bind_data");
  resolve(c.init_set_init_data, "duckdb_init_set_init_data");
  resolve(c.init_get_column_count, "duckdb_init_get_column_count");
  resolve(c.init_get_column_index, "duckdb_init_get_column_index");
  resolve(c.init_set_max_threads, "duckdb_init_set_max_threads");
  resolve(c.init_set_error, "duckdb_init_set_error");
  resolve(c.function_get_init_data, "duckdb_function_get_init_data");
  resolve(c.function_get_local_init_data, "duckdb_function_get_local_init_data");
  resolve(c.function_set_error, "duckdb_function_set_error");
  resolve(c.get_int64, "duckdb_get_int64");
  resolve(c.destroy_value, "duckdb_destroy_value");
  resolve(c.create_logical_type, "duckdb_create_logical_type");
  resolve(c.destroy_logical_type, "duckdb_destroy_logical_type");
  resolve(c.schema_from_arrow, "duckdb_schema_from_arrow");
  resolve(c.destroy_arrow_converted_schema, "duckdb_destroy_arrow_converted_schema");
  resolve(c.data_chunk_from_arrow, "duckdb_data_chunk_from_arrow");
  resolve(c.destroy_data_chunk, "duckdb_destroy_data_chunk");
  resolve(c.data_chunk_get_column_count, "duckdb_data_chunk_get_column_count");
  resolve(c.data_chunk_get_vector, "duckdb_data_chunk_get_vector");
  resolve(c.data_chunk_set_size, "duckdb_data_chunk_set_size");
  resolve(c.vector_reference_vector, "duckdb_vector_reference_vector");
  resolve(c.vector_get_column_type, "duckdb_vector_get_column_type");
  resolve(c.error_data_message, "duckdb_error_data_message");
  resolve(c.destroy_error_data, "duckdb_destroy_error_data");
  if (!missing.empty()) {
    return arrow::Status::IOError("DuckDB ", driver->version, " at '", path, "' lacks ", missing);
  }
  if (!KnownConnectionLayout(driver->version)) {
    return arrow::Status::IOError("DuckDB ", driver->version, " at '", path,
                                  "' is not a version flightdeck was checked with (1.3 to 1.5)");
  }
  AdbcError error{};
  if (init(ADBC_VERSION_1_1_0, &driver->adbc, &error) != ADBC_STATUS_OK) {
    return arrow::Status::IOError("DuckDB's ADBC driver at '", path,
                                  "' refused ADBC 1.1: ", TakeMessage(&error, "no reason given"));
  }
  return driver.release();  // lives as long as the process, like the library
}

}  // namespace

arrow::Result<const DuckDbDriver*> LoadDuckDb() {
  static std::once_flag once;
  static arrow::Result<DuckDbDriver*> loaded = arrow::Status::UnknownError("not loaded");
  std::call_once(once, [] { loaded = Load(); });
  ARROW_ASSIGN_OR_RAISE(DuckDbDriver * driver, loaded);
  return driver;
}

void* ConnectionHandle(const AdbcConnection& connection) {
  return *static_cast<void* const*>(connection.private_data);
}

std::string TakeMessage(const DuckDbCApi& c, void* error_data) {
  const char* message = c.error_data_message(error_data);
  std::string out = message && *message ? message : "unknown engine error";
  c.destroy_error_data(&error_data);
  return out;
}

std::string TakeMessage(AdbcError* error, const char* fallback) {
  std::string message = error->message ? error->message : fallback;
  if (error->release) error->release(error);
  *error = AdbcError{};
  return message;
}

}  // namespace flightdeck::frame::internal
