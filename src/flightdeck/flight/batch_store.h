// flightdeck/flight/batch_store.h: where a data node keeps its datasets.
//
// A BatchStore holds immutable datasets of record batches, each named by a
// ticket (see ticket.h) and by the path it was put under
// (tenant/dataset/partition). Two tiers:
//  - memory: the batches exactly as they arrived, under a byte budget;
//  - disk: Arrow IPC files under `data_dir` (optionally LZ4 or ZSTD
//    compressed), read back through a memory map.
// When a put needs memory the budget does not have, the least recently used
// datasets are spilled to disk (or, if already durable, just released from
// memory). The disk tier has its own byte budget (spill and durable files).
// When nothing can be spilled (no data dir, or no dataset that fits the disk
// budget) the put fails with CapacityError naming the memory and disk
// numbers; a persist that does not fit the disk budget fails the same way.
//
// Durable datasets (Persist, or PutOptions::durable) are written with fsync
// and an atomic rename, and recorded with their file checksum in
// `data_dir/manifest.json`, itself replaced atomically. Open() on the same
// data_dir recovers every durable dataset; everything else is gone. A file
// whose checksum no longer matches is reported (IOError naming it), never
// served. Every read from the disk tier verifies the file checksum.
//
//   ARROW_ASSIGN_OR_RAISE(auto store, BatchStore::Open({.data_dir = "/var/fd"}));
//   ARROW_ASSIGN_OR_RAISE(auto put, store->BeginPut("acme", "acme/orders/0", schema, {}));
//   ARROW_RETURN_NOT_OK(put->Append(batch));
//   ARROW_ASSIGN_OR_RAISE(DatasetSummary summary, put->Commit());
//   ARROW_ASSIGN_OR_RAISE(StoredDataset data, store->Get(summary.ticket));
//
// All BatchStore methods are thread-safe. Spill files, durable files and
// disk reads are written and verified outside the store's lock; manifest
// rewrites (small) run under it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/common/file_encryption.h"
#include "flightdeck/flight/ticket.h"

namespace flightdeck::flight {

/// Compression of the IPC files of the disk tier.
enum class DiskCompression { kNone, kLz4, kZstd };

/// Parses "none", "lz4" or "zstd"; Invalid otherwise.
arrow::Result<DiskCompression> ParseDiskCompression(const std::string& name);

struct BatchStoreOptions {
  /// Bytes of record batches the memory tier may hold (puts in flight
  /// count). Zero: half of the machine's physical memory.
  int64_t memory_budget_bytes = 0;
  /// Directory of the disk tier and the manifest. Empty: no disk tier, no
  /// spilling, no durable datasets.
  std::string data_dir;
  DiskCompression compression = DiskCompression::kNone;
  /// Bytes the disk tier's files (spilled and durable) may occupy. Zero: no
  /// limit but the file system's. A file is admitted by its uncompressed
  /// size and counted by its real size once written; one that would not fit
  /// is not written (or removed again) and the operation fails with
  /// CapacityError.
  int64_t disk_budget_bytes = 0;
  /// Time to live of datasets put without their own; zero: forever.
  std::chrono::milliseconds default_ttl{0};
  /// Keys for encryption at rest. Set: spill and durable files are written
  /// AES-256-GCM encrypted with the newest key and read with the key their
  /// header names; a file whose tag does not authenticate is corrupt, one
  /// whose key is missing fails naming the key id. Plain files written
  /// before the store had keys stay readable.
  std::shared_ptr<const KeyRing> keys;
};

enum class Tier { kMemory, kDisk };

/// What a dataset is: returned by puts and listings, recorded in the manifest.
struct DatasetSummary {
  TicketId ticket;
  /// "tenant/dataset/partition" as put.
  std::string path;
  int64_t rows = 0;
  /// Sum of the sizes of the batches' buffers.
  int64_t bytes = 0;
  /// See internal::SchemaFingerprint.
  std::string schema_fingerprint;
  /// XXH3-64 over the batches' buffers as received ("xxh3:...").
  std::string checksum;
  bool durable = false;
  Tier tier = Tier::kMemory;
  /// Unix milliseconds after which the dataset is gone; 0: never.
  int64_t expires_at_ms = 0;

  /// A JSON object of the fields above ("ticket" is the wire form).
  std::string ToJson() const;
};

/// A dataset's batches for reading. Holding it keeps the buffers (memory or
/// map) alive, even if the dataset is dropped or spilled meanwhile.
struct StoredDataset {
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  DatasetSummary summary;
};

struct PutOptions {
  /// Persist before Commit() returns.
  bool durable = false;
  /// Time to live; negative: the store's default; zero: forever.
  std::chrono::milliseconds ttl{-1};
};

/// What one tenant's committed datasets hold.
struct TenantUsage {
  int64_t datasets = 0;
  /// Sum of DatasetSummary::bytes (the data, whichever tier holds it).
  int64_t bytes = 0;
  /// Bytes of its datasets held in memory.
  int64_t memory_bytes = 0;
  /// Bytes of its datasets' files on disk (spilled or durable).
  int64_t disk_bytes = 0;

  /// {"datasets": .., "bytes": .., "memory_bytes": .., "disk_bytes": ..}
  std::string ToJson() const;
};

/// Counters, consistent with each other at one instant.
struct StoreStats {
  int64_t memory_budget_bytes = 0;
  /// Zero: unlimited.
  int64_t disk_budget_bytes = 0;
  /// Bytes of batches held in memory, puts in flight included.
  int64_t memory_used_bytes = 0;
  /// Of memory_used_bytes, the part reserved by puts in flight.
  int64_t memory_reserved_by_puts_bytes = 0;
  int64_t disk_used_bytes = 0;
  int64_t datasets = 0;
  int64_t datasets_in_memory = 0;
  int64_t datasets_on_disk = 0;
  int64_t datasets_durable = 0;
  int64_t datasets_corrupt = 0;
  int64_t puts_in_flight = 0;
  int64_t spills = 0;
  int64_t spilled_bytes = 0;
  /// Datasets read back from the disk tier to be served, and their bytes.
  int64_t reloads = 0;
  int64_t reloaded_bytes = 0;
  /// Committed datasets by tenant (puts in flight are not counted). Tenants
  /// without datasets are absent.
  std::map<std::string, TenantUsage> tenants;

  /// A JSON object of the node totals above, without `tenants` (callers
  /// decide which tenants' figures they may show).
  std::string ToJson() const;
};

class BatchStore;

/// One put in flight: batches are appended, then Commit() makes the dataset
/// visible at once. Destroying a writer that was not committed discards
/// everything it held. Not thread-safe (one DoPut stream owns it); must not
/// outlive its store.
class DatasetWriter {
 public:
  ~DatasetWriter();
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  /// Adds one batch. Invalid when its schema differs from the put's or it
  /// fails validation; CapacityError (with the memory and disk numbers) when
  /// the memory budget cannot make room, not even by spilling to the disk
  /// tier within its budget. After an error the put must be abandoned.
  arrow::Status Append(std::shared_ptr<arrow::RecordBatch> batch);

  /// Makes the dataset visible under a new ticket, replacing the dataset put
  /// before under the same path (its ticket becomes unknown). With
  /// PutOptions::durable, persists first (IOError if that fails, and then
  /// nothing is visible). Call at most once.
  arrow::Result<DatasetSummary> Commit();

 private:
  friend class BatchStore;
  struct Impl;
  explicit DatasetWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class BatchStore {
 public:
  /// Opens the store: creates data_dir if needed, deletes leftovers of
  /// earlier runs (spill files, partial writes) and recovers the durable
  /// datasets of its manifest, checking each file's checksum (mismatches are
  /// kept as corrupt and reported on access). Fails with IOError when
  /// data_dir cannot be used or the manifest cannot be parsed.
  static arrow::Result<std::unique_ptr<BatchStore>> Open(BatchStoreOptions options);

  ~BatchStore();

  /// Starts a put of `path` (already validated "tenant/dataset/partition")
  /// for `tenant`.
  arrow::Result<std::unique_ptr<DatasetWriter>> BeginPut(
      const std::string& tenant, const std::string& path,
      std::shared_ptr<arrow::Schema> schema, PutOptions options);

  /// The batches of a ticket, from memory or mapped from disk. KeyError for a
  /// ticket that is unknown, dropped or expired; IOError for a corrupt one.
  arrow::Result<StoredDataset> Get(const TicketId& ticket);

  /// The summary of a ticket; errors as Get, without reading data.
  arrow::Result<DatasetSummary> Describe(const TicketId& ticket);

  /// The schema of a ticket; errors as Describe, without reading data.
  arrow::Result<std::shared_ptr<arrow::Schema>> GetSchema(const TicketId& ticket);

  /// The dataset last committed under `path`; KeyError if none.
  arrow::Result<DatasetSummary> FindByPath(const std::string& path);

  /// Datasets whose path starts with `prefix`, in path order. Corrupt and
  /// expired ones are left out.
  std::vector<DatasetSummary> List(const std::string& prefix);

  /// Removes a dataset from both tiers and the manifest. KeyError if unknown.
  arrow::Status Drop(const TicketId& ticket);

  /// Makes a dataset durable (see the file comment); idempotent. Invalid when
  /// the store has no data_dir; CapacityError when its file does not fit the
  /// disk budget (the dataset stays as it was).
  arrow::Result<DatasetSummary> Persist(const TicketId& ticket);

  /// Sets when `tickets` expire: at unix milliseconds `expires_at_ms` (0:
  /// never). Tickets unknown or expired already are skipped. Rewrites the
  /// manifest once when a durable dataset changed (its expiry survives a
  /// restart). Returns the summaries changed.
  arrow::Result<std::vector<DatasetSummary>> SetExpiry(const std::vector<TicketId>& tickets,
                                                       int64_t expires_at_ms);

  /// Drops every expired dataset; returns how many.
  arrow::Result<int64_t> CollectGarbage();

  StoreStats Stats() const;

  /// The durable datasets now, as the store's manifest lists them
  /// ({"version", "datasets": [{..., "file", "file_checksum", "file_size"}]}),
  /// the folder of their files, and whether files are encrypted at rest: a
  /// consistent snapshot to back up (a durable file never changes once
  /// written; one dropped after the snapshot may be gone).
  struct DurableSnapshot {
    std::string manifest_json;
    std::string durable_dir;
    bool encrypted = false;
  };
  DurableSnapshot SnapshotDurable() const;

  /// Files written from now on use `keys` (its newest key); reads find
  /// their key in it. For key rotation: the new ring must keep the keys of
  /// the files already written: Invalid when it drops a key of the ring in
  /// use, or `keys` is null.
  arrow::Status ReplaceKeys(std::shared_ptr<const KeyRing> keys);

  /// The options the store was opened with (`keys` as opened, too).
  const BatchStoreOptions& options() const;

 private:
  friend class DatasetWriter;
  struct Impl;
  explicit BatchStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flightdeck::flight
