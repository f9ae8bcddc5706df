#include "flightdeck/flight/checksum_internal.h"

#include <cstdio>

#include <arrow/array/data.h>
#include <arrow/buffer.h>
#include <arrow/io/file.h>
#include <arrow/ipc/writer.h>

#define XXH_INLINE_ALL
#include <arrow/vendored/xxhash/xxhash.h>

namespace flightdeck::flight::internal {

struct Hasher::State {
  XXH3_state_t* xxh = XXH3_createState();
  ~State() { XXH3_freeState(xxh); }
};

Hasher::Hasher() : state_(std::make_unique<State>()) { XXH3_64bits_reset(state_->xxh); }
Hasher::~Hasher() = default;

void Hasher::Update(const void* data, size_t size) {
  if (size > 0) XXH3_64bits_update(state_->xxh, data, size);
}

namespace {
void UpdateArray(Hasher& hasher, const arrow::ArrayData& data) {
  for (const auto& buffer : data.buffers) {
    if (buffer) hasher.Update(buffer->data(), static_cast<size_t>(buffer->size()));
  }
  for (const auto& child : data.child_data) UpdateArray(hasher, *child);
  if (data.dictionary) UpdateArray(hasher, *data.dictionary);
}
}  // namespace

void Hasher::UpdateBatch(const arrow::RecordBatch& batch) {
  for (int column_idx = 0; column_idx < batch.num_columns(); ++column_idx) {
    UpdateArray(*this, *batch.column_data(column_idx));
  }
}

uint64_t Hasher::Digest() const { return XXH3_64bits_digest(state_->xxh); }

std::string FormatChecksum(uint64_t digest) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(digest));
  return std::string("xxh3:") + hex;
}

arrow::Result<std::string> SchemaFingerprint(const arrow::Schema& schema) {
  ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::ipc::SerializeSchema(schema));
  return FormatChecksum(XXH3_64bits(buffer->data(), static_cast<size_t>(buffer->size())));
}

arrow::Result<uint64_t> HashFile(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto file,
                        arrow::io::MemoryMappedFile::Open(path, arrow::io::FileMode::READ));
  ARROW_ASSIGN_OR_RAISE(int64_t size, file->GetSize());
  ARROW_ASSIGN_OR_RAISE(auto bytes, file->ReadAt(0, size));
  uint64_t digest = XXH3_64bits(bytes->data(), static_cast<size_t>(bytes->size()));
  ARROW_RETURN_NOT_OK(file->Close());
  return digest;
}

}  // namespace flightdeck::flight::internal
