// The batch store's tiers: memory reservation and spills to the disk tier,
// durable files within the disk budget, the manifest and recovery from it.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "flightdeck/common/durable_file.h"
#include "flightdeck/common/logging.h"
#include "flightdeck/flight/batch_store_internal.h"
#include "flightdeck/flight/checksum_internal.h"
#include "flightdeck/flight/ipc_file_internal.h"

namespace flightdeck::flight {

namespace fs = std::filesystem;
using json = nlohmann::json;
using internal::Entry;
using internal::kManifestName;
using internal::kManifestVersion;
using internal::SummaryToJson;

// Bytes of the disk tier's files, plus those being written.
int64_t BatchStore::Impl::DiskUsedLocked() const {
  int64_t used = disk_reserved;
  for (const auto& [key, e] : entries) {
    if (!e.file.empty()) used += e.file_size;
  }
  return used;
}

bool BatchStore::Impl::DiskFitsLocked(int64_t bytes) const {
  return options.disk_budget_bytes <= 0 || DiskUsedLocked() + bytes <= options.disk_budget_bytes;
}

arrow::Status BatchStore::Impl::DiskFull(int64_t bytes, const std::string& what) const {
  return arrow::Status::CapacityError("data node disk tier is full: ", DiskUsedLocked(), " of ",
                                      options.disk_budget_bytes, " bytes in use, ", bytes,
                                      " more needed to ", what);
}

// Writes one disk-tier file of `size_estimate` bytes with the lock
// released, within the disk budget: the estimate is reserved while `write`
// runs, and a file whose real size does not fit is removed again.
// REQUIRES: `lock` holds mutex.
arrow::Result<internal::WrittenFile> BatchStore::Impl::WriteWithinDiskBudget(
    std::unique_lock<std::mutex>& lock, const std::string& file, int64_t size_estimate,
    const std::string& what, const std::function<arrow::Result<internal::WrittenFile>()>& write) {
  if (!DiskFitsLocked(size_estimate)) return DiskFull(size_estimate, what);
  disk_reserved += size_estimate;
  lock.unlock();
  auto written = write();
  lock.lock();
  disk_reserved -= size_estimate;
  if (written.ok() && !DiskFitsLocked(written->size)) {
    RemoveFile(file);
    return DiskFull(written->size, what);
  }
  return written;
}

// Makes room for `bytes` more in memory and reserves them: expired
// datasets go first, then the least recently used ones are released (if
// already on disk) or spilled. Spill files are written without holding the
// lock; a dataset being spilled stays readable from memory meanwhile.
// CapacityError when nothing is left to release.
arrow::Status BatchStore::Impl::Reserve(int64_t bytes) {
  std::unique_lock<std::mutex> lock(mutex);
  bool collected = false;
  while (memory_used + bytes > options.memory_budget_bytes) {
    if (!collected) {
      collected = true;
      std::vector<std::string> expired;
      for (const auto& [key, e] : entries) {
        if (Expired(e)) expired.push_back(key);
      }
      for (const auto& key : expired) ARROW_RETURN_NOT_OK(RemoveLocked(key));
      continue;
    }
    // The least recently used dataset that is already on disk or whose
    // spill file fits the disk budget.
    Entry* victim = nullptr;
    int64_t unspillable = 0;  // datasets left in memory for the disk budget
    if (has_disk()) {
      for (auto& [key, e] : entries) {
        if (!e.in_memory || e.spilling || !e.corrupt.empty()) continue;
        if (e.file.empty() && !DiskFitsLocked(e.summary.bytes)) {
          ++unspillable;
          continue;
        }
        if (!victim || e.last_used < victim->last_used) victim = &e;
      }
    }
    if (!victim) {
      if (spills_in_progress > 0) {
        // Another put is spilling: its memory comes free soon.
        spilled_cv.wait(lock);
        continue;
      }
      std::string disk = "no data dir to spill to";
      if (has_disk() && unspillable > 0) {
        disk = "the disk tier is full: " + std::to_string(DiskUsedLocked()) + " of " +
               std::to_string(options.disk_budget_bytes) + " bytes in use, too little for " +
               std::to_string(unspillable) + " dataset(s) in memory";
      } else if (has_disk()) {
        disk = "nothing left to spill";
      }
      return arrow::Status::CapacityError(
          "data node memory is full: ", memory_used, " of ", options.memory_budget_bytes,
          " bytes in use (", reserved, " by puts in flight), ", bytes,
          " more requested, and ", disk);
    }
    if (!victim->file.empty()) {
      ReleaseMemoryLocked(*victim);  // durable: its file already holds it
      continue;
    }
    ARROW_RETURN_NOT_OK(SpillUnlocked(lock, *victim));
  }
  memory_used += bytes;
  reserved += bytes;
  return arrow::Status::OK();
}

// Writes `victim` to a spill file with the lock released, then moves it to
// the disk tier unless it was dropped, replaced or persisted meanwhile.
// REQUIRES: `lock` holds mutex; victim is in memory, not spilling, no file.
arrow::Status BatchStore::Impl::SpillUnlocked(std::unique_lock<std::mutex>& lock, Entry& victim) {
  victim.spilling = true;
  ++spills_in_progress;
  const std::string key = victim.summary.ticket.Encode();
  const std::string file = FileFor(victim.summary.ticket, /*durable=*/false);
  auto schema = victim.schema;
  auto batches = victim.batches;
  const int64_t bytes = victim.summary.bytes;
  auto written = WriteWithinDiskBudget(lock, file, bytes, "spill " + victim.summary.path, [&] {
    return internal::WriteIpcFile(file, schema, batches, options.compression, Keys().get());
  });
  batches.clear();
  --spills_in_progress;
  spilled_cv.notify_all();
  auto it = entries.find(key);
  if (it == entries.end() || !it->second.file.empty()) {
    // Dropped, replaced or persisted meanwhile: the spill file is not needed.
    if (written.ok()) RemoveFile(file);
    if (it != entries.end()) it->second.spilling = false;
    return arrow::Status::OK();
  }
  Entry& e = it->second;
  e.spilling = false;
  ARROW_RETURN_NOT_OK(written.status());
  e.file = file;
  e.file_checksum = written->checksum;
  e.file_size = written->size;
  ++spills;
  spilled_bytes += bytes;
  FD_LOG(kDebug) << "spilled " << e.summary.path << " (" << bytes << " bytes) to " << file;
  ReleaseMemoryLocked(e);
  return arrow::Status::OK();
}

// Drops the in-memory copy of a dataset whose file holds it.
void BatchStore::Impl::ReleaseMemoryLocked(Entry& e) {
  e.batches.clear();
  e.batches.shrink_to_fit();
  e.in_memory = false;
  e.summary.tier = Tier::kDisk;
  memory_used -= e.summary.bytes;
}

// Writes the durable file of an entry's data with the lock released,
// within the disk budget (CapacityError otherwise).
arrow::Result<internal::WrittenFile> BatchStore::Impl::WriteDurable(const std::string& file,
                                                  const StoredDataset& data) {
  std::unique_lock<std::mutex> lock(mutex);
  return WriteWithinDiskBudget(lock, file, data.summary.bytes, "persist " + data.summary.path,
                               [&] {
                                 return internal::WriteIpcFile(file, data.schema, data.batches,
                                                               options.compression, Keys().get());
                               });
}

arrow::Status BatchStore::Impl::WriteManifestLocked() {
  return WriteFileAtomically((fs::path(options.data_dir) / kManifestName).string(), ManifestJsonLocked());
}

std::string BatchStore::Impl::ManifestJsonLocked() const {
  json datasets = json::array();
  for (const auto& [key, e] : entries) {
    if (!e.summary.durable) continue;
    json j = SummaryToJson(e.summary);
    j.erase("tier");
    j["file"] = fs::path(e.file).filename().string();
    j["file_checksum"] = internal::FormatChecksum(e.file_checksum);
    j["file_size"] = e.file_size;
    datasets.push_back(std::move(j));
  }
  json manifest{{"version", kManifestVersion}, {"datasets", std::move(datasets)}};
  return manifest.dump(1);
}

arrow::Status BatchStore::Impl::Recover() {
  const fs::path manifest_path = fs::path(options.data_dir) / kManifestName;
  if (!fs::exists(manifest_path)) return arrow::Status::OK();
  std::ifstream in(manifest_path);
  std::stringstream text;
  text << in.rdbuf();
  json manifest = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.is_object() || !manifest.contains("datasets") ||
      !manifest["datasets"].is_array()) {
    return arrow::Status::IOError("manifest ", manifest_path.string(),
                                  " is not a flightdeck manifest");
  }
  for (const auto& j : manifest["datasets"]) {
    Entry e;
    try {
      ARROW_ASSIGN_OR_RAISE(e.summary.ticket, DecodeTicket(j.at("ticket").get<std::string>()));
      e.summary.path = j.at("path").get<std::string>();
      e.summary.rows = j.at("rows").get<int64_t>();
      e.summary.bytes = j.at("bytes").get<int64_t>();
      e.summary.schema_fingerprint = j.at("schema_fingerprint").get<std::string>();
      e.summary.checksum = j.at("checksum").get<std::string>();
      e.summary.expires_at_ms = j.at("expires_at_ms").get<int64_t>();
      e.file = (durable_dir / j.at("file").get<std::string>()).string();
      e.file_size = j.at("file_size").get<int64_t>();
      const std::string checksum = j.at("file_checksum").get<std::string>();
      e.file_checksum = std::stoull(checksum.substr(5), nullptr, 16);
    } catch (const std::exception& ex) {
      return arrow::Status::IOError("manifest ", manifest_path.string(),
                                    " has a bad entry: ", ex.what());
    }
    e.summary.durable = true;
    e.summary.tier = Tier::kDisk;
    e.in_memory = false;
    // A file that maps, matches its checksum and parses is served.
    auto read = internal::ReadIpcFile(e.file, e.file_checksum, Keys().get());
    if (read.ok()) {
      e.schema = read->schema;
    } else {
      e.corrupt = read.status().message();
    }
    if (!e.corrupt.empty()) FD_LOG(kError) << "durable dataset " << e.summary.path << ": " << e.corrupt;
    const std::string key = e.summary.ticket.Encode();
    by_path[e.summary.path] = key;
    entries.emplace(key, std::move(e));
  }
  return arrow::Status::OK();
}

}  // namespace flightdeck::flight
