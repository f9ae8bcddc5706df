// flightdeck/flight/checksum_internal.h: XXH3-64 checksums of record batches
// and files, shared by the store and the data node.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <arrow/record_batch.h>
#include <arrow/result.h>

namespace flightdeck::flight::internal {

/// Incremental XXH3-64. Not thread-safe; one owner.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Update(const void* data, size_t size);
  /// Hashes every buffer of every column (children and dictionaries
  /// included), in order, as the batch holds them.
  void UpdateBatch(const arrow::RecordBatch& batch);
  uint64_t Digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// "xxh3:" followed by 16 hex digits.
std::string FormatChecksum(uint64_t digest);

/// The fingerprint of a schema: FormatChecksum of its IPC serialization.
arrow::Result<std::string> SchemaFingerprint(const arrow::Schema& schema);

/// XXH3-64 of a whole file, read through a memory map. IOError when the file
/// cannot be opened.
arrow::Result<uint64_t> HashFile(const std::string& path);

}  // namespace flightdeck::flight::internal
