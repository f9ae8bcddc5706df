#include "flightdeck/frame/arrow_scan.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include <arrow/array.h>
#include <arrow/c/bridge.h>
#include <arrow/type.h>

#include "flightdeck/common/random.h"

namespace flightdeck::frame::internal {
namespace {

constexpr char kFunctionName[] = "fd_arrow_scan";

struct BindData {
  StreamRegistry* registry = nullptr;
  std::shared_ptr<StreamRegistry::Entry> entry;
};

// DuckDB's conversion of `schema` (released by the destructor).
struct Converted {
  const DuckDbCApi* c = nullptr;
  ArrowSchema schema{};
  void* handle = nullptr;
  ~Converted() {
    if (handle != nullptr) c->destroy_arrow_converted_schema(&handle);
    if (schema.release != nullptr) schema.release(&schema);
  }
};

std::string Convert(const DuckDbCApi& c, void* connection, const arrow::Schema& schema, Converted& out) {
  out.c = &c;
  auto st = arrow::ExportSchema(schema, &out.schema);
  if (!st.ok()) return st.ToString();
  if (void* error = c.schema_from_arrow(connection, &out.schema, &out.handle)) return TakeMessage(c, error);
  return "";
}

struct GlobalState {
  std::shared_ptr<StreamRegistry::Entry> entry;
  const DuckDbCApi* c = nullptr;
  std::vector<int> columns;
  Converted converted;
  std::mutex mutex;
  bool done = false;
};

struct LocalState {
  std::shared_ptr<arrow::RecordBatch> batch;
  int64_t offset = 0;
};

// The C API of the one DuckDB library a process loads (LoadDuckDb), for the
// callbacks, which get only DuckDB's handles.
const DuckDbCApi* g_c = nullptr;

// The DuckDB types of `schema`'s columns, from DuckDB's own conversion of a
// one-row batch of nulls (so they match what the scan produces).
std::string ColumnTypes(const DuckDbCApi& c, void* connection, const arrow::Schema& schema,
                        std::vector<void*>& types) {
  Converted converted;
  if (auto error = Convert(c, connection, schema, converted); !error.empty()) return error;
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (const auto& field : schema.fields()) {
    auto nulls = arrow::MakeArrayOfNull(field->type(), 1);
    if (!nulls.ok()) return nulls.status().ToString();
    columns.push_back(*nulls);
  }
  auto batch = arrow::RecordBatch::Make(std::make_shared<arrow::Schema>(schema), 1, columns);
  ArrowArray array{};
  if (auto st = arrow::ExportRecordBatch(*batch, &array); !st.ok()) return st.ToString();
  void* chunk = nullptr;
  void* error = c.data_chunk_from_arrow(connection, &array, converted.handle, &chunk);
  if (array.release != nullptr) array.release(&array);
  if (error != nullptr) return TakeMessage(c, error);
  for (int i = 0; i < schema.num_fields(); ++i) {
    types.push_back(c.vector_get_column_type(c.data_chunk_get_vector(chunk, static_cast<uint64_t>(i))));
  }
  c.destroy_data_chunk(&chunk);
  return "";
}

void Bind(void* info) {
  const DuckDbCApi& c = *g_c;
  auto* registry = static_cast<StreamRegistry*>(c.bind_get_extra_info(info));
  void* value = c.bind_get_parameter(info, 0);
  const int64_t id = c.get_int64(value);
  c.destroy_value(&value);
  auto entry = registry->Find(id);
  void* context = nullptr;
  c.table_function_get_client_context(info, &context);
  const uint64_t connection_id = c.client_context_get_connection_id(context);
  c.destroy_client_context(&context);
  if (!entry || entry->connection_id != connection_id) {
    c.bind_set_error(info, "fd_arrow_scan: no stream with that id on this connection");
    return;
  }
  std::vector<void*> types;
  if (auto error = ColumnTypes(c, entry->connection, *entry->schema, types); !error.empty()) {
    c.bind_set_error(info, ("fd_arrow_scan: " + error).c_str());
    return;
  }
  for (int i = 0; i < entry->schema->num_fields(); ++i) {
    c.bind_add_result_column(info, entry->schema->field(i)->name().c_str(), types[static_cast<size_t>(i)]);
    c.destroy_logical_type(&types[static_cast<size_t>(i)]);
  }
  if (entry->rows >= 0) c.bind_set_cardinality(info, static_cast<uint64_t>(entry->rows), true);
  c.bind_set_bind_data(info, new BindData{registry, entry},
                       [](void* data) { delete static_cast<BindData*>(data); });
}

void Init(void* info) {
  const DuckDbCApi& c = *g_c;
  auto* bind = static_cast<BindData*>(c.init_get_bind_data(info));
  auto& entry = bind->entry;
  {
    // A stream is read once: a second scan would silently see no rows.
    static std::mutex claim;
    std::lock_guard<std::mutex> lock(claim);
    if (entry->claimed) {
      c.init_set_error(info, "fd_arrow_scan: this stream was read already (a stream is read once)");
      return;
    }
    entry->claimed = true;
  }
  auto state = std::make_unique<GlobalState>();
  state->entry = entry;
  state->c = &c;
  arrow::FieldVector fields;
  const uint64_t count = c.init_get_column_count(info);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t index = c.init_get_column_index(info, i);
    if (index >= static_cast<uint64_t>(entry->schema->num_fields())) {
      c.init_set_error(info, "fd_arrow_scan: asked for a column the stream does not have");
      return;
    }
    state->columns.push_back(static_cast<int>(index));
    fields.push_back(entry->schema->field(static_cast<int>(index)));
  }
  if (auto error = Convert(c, entry->connection, arrow::Schema(fields), state->converted); !error.empty()) {
    c.init_set_error(info, ("fd_arrow_scan: " + error).c_str());
    return;
  }
  c.init_set_max_threads(info, static_cast<uint64_t>(std::max(1, bind->registry->threads())));
  c.init_set_init_data(info, state.release(), [](void* data) { delete static_cast<GlobalState*>(data); });
}

void LocalInit(void* info) {
  g_c->init_set_init_data(info, new LocalState(), [](void* data) { delete static_cast<LocalState*>(data); });
}

void Scan(void* info, void* output) {
  const DuckDbCApi& c = *g_c;
  auto* global = static_cast<GlobalState*>(c.function_get_init_data(info));
  auto* local = static_cast<LocalState*>(c.function_get_local_init_data(info));
  while (!local->batch || local->offset >= local->batch->num_rows()) {
    std::lock_guard<std::mutex> lock(global->mutex);
    local->batch.reset();
    if (global->done) {
      c.data_chunk_set_size(output, 0);
      return;
    }
    std::shared_ptr<arrow::RecordBatch> next;
    auto st = global->entry->reader->ReadNext(&next);
    if (!st.ok()) {
      global->done = true;
      {
        std::lock_guard<std::mutex> failed(global->entry->failure_mutex);
        global->entry->failure = st;
      }
      c.function_set_error(info, st.message().c_str());
      return;
    }
    if (!next) {
      global->done = true;
      c.data_chunk_set_size(output, 0);
      return;
    }
    auto projected = next->SelectColumns(global->columns);
    if (!projected.ok()) {
      global->done = true;
      c.function_set_error(info, projected.status().message().c_str());
      return;
    }
    global->entry->read += next->num_rows();
    local->batch = *std::move(projected);
    local->offset = 0;
  }
  const int64_t rows = std::min(DuckDbCApi::kVectorSize, local->batch->num_rows() - local->offset);
  auto slice = local->batch->Slice(local->offset, rows);
  ArrowArray array{};
  if (auto st = arrow::ExportRecordBatch(*slice, &array); !st.ok()) {
    c.function_set_error(info, st.message().c_str());
    return;
  }
  // DuckDB takes the array over (its first column's vector releases it);
  // `local->batch` keeps every column's buffers alive until the scan moves
  // past this batch either way.
  void* chunk = nullptr;
  void* error = c.data_chunk_from_arrow(global->entry->connection, &array, global->converted.handle, &chunk);
  if (array.release != nullptr) array.release(&array);
  if (error != nullptr) {
    c.function_set_error(info, TakeMessage(c, error).c_str());
    return;
  }
  for (size_t i = 0; i < global->columns.size(); ++i) {
    c.vector_reference_vector(c.data_chunk_get_vector(output, i), c.data_chunk_get_vector(chunk, i));
  }
  c.data_chunk_set_size(output, static_cast<uint64_t>(rows));
  c.destroy_data_chunk(&chunk);
  local->offset += rows;
}

}  // namespace

double StreamRegistry::Progress() {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t total = 0, read = 0;
  for (const auto& [id, entry] : entries_) {
    if (!entry->claimed || entry->rows <= 0) continue;
    total += entry->rows;
    read += std::min(entry->read.load(), entry->rows);
  }
  return total > 0 ? static_cast<double>(read) / static_cast<double>(total) : -1.0;
}

arrow::Status StreamRegistry::RegisterFunction(void* connection) {
  const DuckDbCApi& c = driver_->c;
  g_c = &c;
  void* function = c.create_table_function();
  c.table_function_set_name(function, kFunctionName);
  void* bigint = c.create_logical_type(DuckDbCApi::kBigint);
  c.table_function_add_parameter(function, bigint);
  c.destroy_logical_type(&bigint);
  c.table_function_set_extra_info(function, this, nullptr);
  c.table_function_set_bind(function, Bind);
  c.table_function_set_init(function, Init);
  c.table_function_set_local_init(function, LocalInit);
  c.table_function_set_function(function, Scan);
  c.table_function_supports_projection_pushdown(function, true);
  const int state = c.register_table_function(connection, function);
  c.destroy_table_function(&function);
  if (state != 0) return arrow::Status::IOError("engine: cannot register ", kFunctionName);
  return arrow::Status::OK();
}

int64_t StreamRegistry::Add(std::shared_ptr<arrow::RecordBatchReader> reader, void* connection, int64_t rows) {
  auto entry = std::make_shared<Entry>();
  entry->schema = reader->schema();
  entry->reader = std::move(reader);
  entry->connection = connection;
  entry->rows = rows;
  void* context = nullptr;
  driver_->c.connection_get_client_context(connection, &context);
  entry->connection_id = driver_->c.client_context_get_connection_id(context);
  driver_->c.destroy_client_context(&context);
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t id = 0;
  do {
    id = static_cast<int64_t>(RandomU64() >> 1);
  } while (id == 0 || entries_.count(id));
  entries_[id] = std::move(entry);
  return id;
}

void StreamRegistry::Remove(int64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.erase(id);
}

std::shared_ptr<StreamRegistry::Entry> StreamRegistry::Find(int64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : it->second;
}

}  // namespace flightdeck::frame::internal
