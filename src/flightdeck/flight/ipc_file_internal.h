// flightdeck/flight/ipc_file_internal.h: the disk tier's files. Datasets are
// written as Arrow IPC files, atomically (temporary name, fsync, rename,
// fsync of the directory), and read back through a memory map after their
// checksum was verified. With a key ring they are encrypted at rest
// (common/file_encryption.h): written with its newest key, read with the
// key their header names.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "flightdeck/common/file_encryption.h"
#include "flightdeck/flight/batch_store.h"

namespace flightdeck::flight::internal {

/// What WriteIpcFile wrote.
struct WrittenFile {
  int64_t size = 0;
  /// XXH3-64 of the file's bytes.
  uint64_t checksum = 0;
};

/// Writes `batches` to `path` atomically and durably: `path`.tmp is written,
/// fsynced and renamed over `path`, then the directory is fsynced. On error
/// nothing is left at `path` (nor the temporary). IOError names the file.
/// With `keys`, the file is encrypted with keys->Newest().
arrow::Result<WrittenFile> WriteIpcFile(
    const std::string& path, const std::shared_ptr<arrow::Schema>& schema,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    DiskCompression compression, const KeyRing* keys);

/// The contents of an IPC file.
struct ReadFile {
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
};

/// Maps `path`, checks its XXH3-64 against `expected_checksum` (IOError
/// "corrupt" on mismatch) and returns its batches, which point into the map
/// when the file is uncompressed and not encrypted. An encrypted file is
/// decrypted into memory with the key of `keys` its header names; a
/// missing key or a tag that does not authenticate is an IOError, and
/// nothing of the file is returned.
arrow::Result<ReadFile> ReadIpcFile(const std::string& path, uint64_t expected_checksum,
                                    const KeyRing* keys);

}  // namespace flightdeck::flight::internal
