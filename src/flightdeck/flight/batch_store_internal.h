#pragma once

// The batch store's state, shared by batch_store.cc (the API, lookups and
// reads) and batch_store_tiers.cc (memory reservation, spills, durable
// files, the manifest and recovery). Internal to the flight layer.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <nlohmann/json.hpp>

#include "flightdeck/flight/batch_store.h"
#include "flightdeck/flight/ipc_file_internal.h"

namespace flightdeck::flight {

namespace internal {

inline constexpr char kManifestName[] = "manifest.json";
inline constexpr int kManifestVersion = 1;

nlohmann::json SummaryToJson(const DatasetSummary& s);

// One dataset as the store keeps it. A dataset is in memory when `batches`
// holds it; otherwise its data is in `file` (spill or durable).
struct Entry {
  DatasetSummary summary;
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  bool in_memory = true;
  std::string file;  // empty: no file
  uint64_t file_checksum = 0;
  int64_t file_size = 0;
  std::string corrupt;  // non-empty: why it is not served
  uint64_t last_used = 0;
  bool spilling = false;  // a spill file is being written
};

}  // namespace internal

struct BatchStore::Impl {
  using Entry = internal::Entry;
  using path = std::filesystem::path;

  BatchStoreOptions options;
  path spill_dir;
  path durable_dir;

  mutable std::mutex mutex;
  // State below is guarded by mutex.
  std::unordered_map<std::string, Entry> entries;  // by ticket wire form
  std::map<std::string, std::string> by_path;      // path -> ticket wire form
  int64_t memory_used = 0;                          // committed in memory + reserved
  int64_t reserved = 0;                             // by puts in flight
  int64_t disk_reserved = 0;                        // by files being written
  int64_t puts_in_flight = 0;
  int64_t spills = 0;
  int64_t spilled_bytes = 0;
  // Reads of datasets from the disk tier (spilled or durable), and their bytes.
  int64_t reloads = 0;
  int64_t reloaded_bytes = 0;
  int64_t spills_in_progress = 0;
  std::condition_variable spilled_cv;  // a spill ended
  uint64_t clock = 0;  // LRU order

  bool has_disk() const { return !options.data_dir.empty(); }

  // The key ring files are written and read with; replaced on rotation.
  std::shared_ptr<const KeyRing> Keys() const {
    std::lock_guard<std::mutex> lock(keys_mutex);
    return keys;
  }
  mutable std::mutex keys_mutex;
  std::shared_ptr<const KeyRing> keys;  // guarded by keys_mutex

  // Bytes of the disk tier's files, plus those being written.
  int64_t DiskUsedLocked() const;

  bool DiskFitsLocked(int64_t bytes) const;

  arrow::Status DiskFull(int64_t bytes, const std::string& what) const;

  // Writes one disk-tier file of `size_estimate` bytes with the lock
  // released, within the disk budget: the estimate is reserved while `write`
  // runs, and a file whose real size does not fit is removed again.
  // REQUIRES: `lock` holds mutex.
  arrow::Result<internal::WrittenFile> WriteWithinDiskBudget(
      std::unique_lock<std::mutex>& lock, const std::string& file, int64_t size_estimate,
      const std::string& what, const std::function<arrow::Result<internal::WrittenFile>()>& write);

  // The entry of a live, unexpired ticket; KeyError otherwise.
  arrow::Result<Entry*> Lookup(const TicketId& ticket);

  static bool Expired(const Entry& e);

  std::string FileFor(const TicketId& ticket, bool durable) const;

  // Takes an entry out of the maps and the memory accounting; its files and
  // the manifest are the caller's business.
  std::optional<Entry> TakeLocked(const std::string& key);

  // Removes an entry and its file; rewrites the manifest if it was durable.
  // If that rewrite fails the file stays, as the manifest still names it.
  arrow::Status RemoveLocked(const std::string& key);

  static void RemoveFile(const std::string& file);

  arrow::Status WriteManifestLocked();
  // The manifest's JSON text (the durable entries).
  std::string ManifestJsonLocked() const;

  // Makes room for `bytes` more in memory and reserves them: expired
  // datasets go first, then the least recently used ones are released (if
  // already on disk) or spilled. Spill files are written without holding the
  // lock; a dataset being spilled stays readable from memory meanwhile.
  // CapacityError when nothing is left to release.
  arrow::Status Reserve(int64_t bytes);

  // Writes `victim` to a spill file with the lock released, then moves it to
  // the disk tier unless it was dropped, replaced or persisted meanwhile.
  // REQUIRES: `lock` holds mutex; victim is in memory, not spilling, no file.
  arrow::Status SpillUnlocked(std::unique_lock<std::mutex>& lock, Entry& victim);

  // Drops the in-memory copy of a dataset whose file holds it.
  void ReleaseMemoryLocked(Entry& e);

  arrow::Status Recover();

  // Writes the durable file of an entry's data with the lock released,
  // within the disk budget (CapacityError otherwise).
  arrow::Result<internal::WrittenFile> WriteDurable(const std::string& file,
                                                    const StoredDataset& data);

  static arrow::Status Corrupt(const Entry& e);

  // The batches of a ticket. Files are mapped and verified outside the lock,
  // so a large disk read does not stall other calls.
  arrow::Result<StoredDataset> Read(const TicketId& ticket);
};

}  // namespace flightdeck::flight
