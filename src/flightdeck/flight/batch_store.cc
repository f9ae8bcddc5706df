#include "flightdeck/flight/batch_store.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <arrow/type.h>
#include <arrow/util/byte_size.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/clock.h"
#include "flightdeck/common/durable_file.h"
#include "flightdeck/common/logging.h"
#include "flightdeck/flight/batch_store_internal.h"
#include "flightdeck/flight/checksum_internal.h"
#include "flightdeck/flight/ipc_file_internal.h"

namespace flightdeck::flight {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace internal {

json SummaryToJson(const DatasetSummary& s) {
  return json{{"ticket", s.ticket.Encode()},
              {"path", s.path},
              {"rows", s.rows},
              {"bytes", s.bytes},
              {"schema_fingerprint", s.schema_fingerprint},
              {"checksum", s.checksum},
              {"durable", s.durable},
              {"tier", s.tier == Tier::kMemory ? "memory" : "disk"},
              {"expires_at_ms", s.expires_at_ms}};
}

}  // namespace internal

using internal::Entry;
using internal::SummaryToJson;

arrow::Result<DiskCompression> ParseDiskCompression(const std::string& name) {
  if (name == "none") return DiskCompression::kNone;
  if (name == "lz4") return DiskCompression::kLz4;
  if (name == "zstd") return DiskCompression::kZstd;
  return arrow::Status::Invalid("compression '", name, "' is not one of none, lz4, zstd");
}

std::string DatasetSummary::ToJson() const { return SummaryToJson(*this).dump(); }

std::string TenantUsage::ToJson() const {
  return json{{"datasets", datasets},
              {"bytes", bytes},
              {"memory_bytes", memory_bytes},
              {"disk_bytes", disk_bytes}}
      .dump();
}

std::string StoreStats::ToJson() const {
  return json{{"memory_budget_bytes", memory_budget_bytes},
              {"disk_budget_bytes", disk_budget_bytes},
              {"memory_used_bytes", memory_used_bytes},
              {"memory_reserved_by_puts_bytes", memory_reserved_by_puts_bytes},
              {"disk_used_bytes", disk_used_bytes},
              {"datasets", datasets},
              {"datasets_in_memory", datasets_in_memory},
              {"datasets_on_disk", datasets_on_disk},
              {"datasets_durable", datasets_durable},
              {"datasets_corrupt", datasets_corrupt},
              {"puts_in_flight", puts_in_flight},
              {"spills", spills},
              {"spilled_bytes", spilled_bytes},
              {"reloads", reloads},
              {"reloaded_bytes", reloaded_bytes}}
      .dump();
}

// The entry of a live, unexpired ticket; KeyError otherwise.
arrow::Result<Entry*> BatchStore::Impl::Lookup(const TicketId& ticket) {
  auto it = entries.find(ticket.Encode());
  if (it == entries.end() || Expired(it->second)) {
    return arrow::Status::KeyError("no dataset for this ticket");
  }
  it->second.last_used = ++clock;
  return &it->second;
}

bool BatchStore::Impl::Expired(const Entry& e) {
  return e.summary.expires_at_ms != 0 && e.summary.expires_at_ms <= UnixMillis();
}

std::string BatchStore::Impl::FileFor(const TicketId& ticket, bool durable) const {
  const fs::path& dir = durable ? durable_dir : spill_dir;
  return (dir / (ticket.tenant + "." + ticket.id + ".arrow")).string();
}

// Takes an entry out of the maps and the memory accounting; its files and
// the manifest are the caller's business.
std::optional<Entry> BatchStore::Impl::TakeLocked(const std::string& key) {
  auto it = entries.find(key);
  if (it == entries.end()) return std::nullopt;
  Entry entry = std::move(it->second);
  entries.erase(it);
  auto path_it = by_path.find(entry.summary.path);
  if (path_it != by_path.end() && path_it->second == key) by_path.erase(path_it);
  if (entry.in_memory) memory_used -= entry.summary.bytes;
  return entry;
}

// Removes an entry and its file; rewrites the manifest if it was durable.
// If that rewrite fails the file stays, as the manifest still names it.
arrow::Status BatchStore::Impl::RemoveLocked(const std::string& key) {
  std::optional<Entry> entry = TakeLocked(key);
  if (!entry) return arrow::Status::OK();
  if (entry->summary.durable) ARROW_RETURN_NOT_OK(WriteManifestLocked());
  RemoveFile(entry->file);
  return arrow::Status::OK();
}

void BatchStore::Impl::RemoveFile(const std::string& file) {
  if (file.empty()) return;
  std::error_code ec;
  fs::remove(file, ec);
}

arrow::Status BatchStore::Impl::Corrupt(const Entry& e) {
  return arrow::Status::IOError("dataset ", e.summary.path, " is not served: ",
                                e.corrupt);
}

// The batches of a ticket. Files are mapped and verified outside the lock,
// so a large disk read does not stall other calls.
arrow::Result<StoredDataset> BatchStore::Impl::Read(const TicketId& ticket) {
  for (int attempt = 0;; ++attempt) {
    StoredDataset data;
    std::string file;
    uint64_t checksum = 0;
    {
      std::lock_guard<std::mutex> lock(mutex);
      ARROW_ASSIGN_OR_RAISE(Entry * e, Lookup(ticket));
      if (!e->corrupt.empty()) return Corrupt(*e);
      data = StoredDataset{e->schema, {}, e->summary};
      if (e->in_memory) {
        data.batches = e->batches;
        return data;
      }
      file = e->file;
      checksum = e->file_checksum;
    }
    auto read = internal::ReadIpcFile(file, checksum, Keys().get());
    if (read.ok()) {
      data.batches = std::move(read->batches);
      std::lock_guard<std::mutex> lock(mutex);
      ++reloads;
      reloaded_bytes += data.summary.bytes;
      return data;
    }
    std::lock_guard<std::mutex> lock(mutex);
    ARROW_ASSIGN_OR_RAISE(Entry * e, Lookup(ticket));  // dropped meanwhile: KeyError
    // The file moved (spill -> durable) while we read: read the new one.
    if (e->file != file && attempt < 3) continue;
    if (e->corrupt.empty()) {
      e->corrupt = read.status().message();
      FD_LOG(kError) << "dataset " << e->summary.path << ": " << e->corrupt;
    }
    return Corrupt(*e);
  }
}

struct DatasetWriter::Impl {
  BatchStore::Impl* store;
  std::string tenant;
  std::string path;
  std::shared_ptr<arrow::Schema> schema;
  PutOptions options;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  internal::Hasher hasher;
  int64_t rows = 0;
  int64_t bytes = 0;  // reserved in the store
  bool done = false;

  void Release() {
    if (done) return;
    done = true;
    std::lock_guard<std::mutex> lock(store->mutex);
    store->memory_used -= bytes;
    store->reserved -= bytes;
    --store->puts_in_flight;
  }
};

DatasetWriter::DatasetWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DatasetWriter::~DatasetWriter() { impl_->Release(); }

arrow::Status DatasetWriter::Append(std::shared_ptr<arrow::RecordBatch> batch) {
  Impl& w = *impl_;
  if (w.done) return arrow::Status::Invalid("put of ", w.path, " already ended");
  if (!batch->schema()->Equals(*w.schema)) {
    return arrow::Status::Invalid("batch ", w.batches.size(), " of put ", w.path,
                                  " has schema ", batch->schema()->ToString(),
                                  ", the put declared ", w.schema->ToString());
  }
  if (arrow::Status valid = batch->Validate(); !valid.ok()) {
    return arrow::Status::Invalid("batch ", w.batches.size(), " of put ", w.path,
                                  " is invalid: ", valid.message());
  }
  const int64_t size = arrow::util::TotalBufferSize(*batch);
  ARROW_RETURN_NOT_OK(w.store->Reserve(size));
  w.bytes += size;
  w.rows += batch->num_rows();
  w.hasher.UpdateBatch(*batch);
  w.batches.push_back(std::move(batch));
  return arrow::Status::OK();
}

arrow::Result<DatasetSummary> DatasetWriter::Commit() {
  Impl& w = *impl_;
  if (w.done) return arrow::Status::Invalid("put of ", w.path, " already ended");
  BatchStore::Impl& store = *w.store;
  Entry e;
  e.summary.ticket = NewTicket(w.tenant);
  e.summary.path = w.path;
  e.summary.rows = w.rows;
  e.summary.bytes = w.bytes;
  ARROW_ASSIGN_OR_RAISE(e.summary.schema_fingerprint, internal::SchemaFingerprint(*w.schema));
  e.summary.checksum = internal::FormatChecksum(w.hasher.Digest());
  auto ttl = w.options.ttl.count() < 0 ? store.options.default_ttl : w.options.ttl;
  e.summary.expires_at_ms = ttl.count() > 0 ? UnixMillis() + ttl.count() : 0;
  e.schema = w.schema;
  e.batches = std::move(w.batches);
  if (w.options.durable) {
    if (!store.has_disk()) {
      return arrow::Status::Invalid("cannot persist ", w.path,
                                    ": the data node runs without a data dir");
    }
    e.file = store.FileFor(e.summary.ticket, /*durable=*/true);
    ARROW_ASSIGN_OR_RAISE(auto written,
                          store.WriteDurable(e.file, {e.schema, e.batches, e.summary}));
    e.file_checksum = written.checksum;
    e.file_size = written.size;
    e.summary.durable = true;
  }
  const std::string key = e.summary.ticket.Encode();
  DatasetSummary summary = e.summary;
  std::lock_guard<std::mutex> lock(store.mutex);
  // The reservation becomes the committed dataset's memory.
  w.done = true;
  store.reserved -= w.bytes;
  --store.puts_in_flight;
  e.last_used = ++store.clock;
  // Swap the path's dataset: the manifest is written once, naming the new
  // dataset and no longer the old one, so a crash leaves one or the other.
  auto old = store.by_path.find(w.path);
  std::optional<Entry> replaced;
  if (old != store.by_path.end()) replaced = store.TakeLocked(old->second);
  store.entries.emplace(key, std::move(e));
  store.by_path[w.path] = key;
  if (summary.durable || (replaced && replaced->summary.durable)) {
    arrow::Status st = store.WriteManifestLocked();
    if (!st.ok()) {
      // Not recorded: nothing becomes visible, the old dataset stays.
      std::optional<Entry> mine = store.TakeLocked(key);
      if (mine) BatchStore::Impl::RemoveFile(mine->file);
      if (replaced) {
        if (replaced->in_memory) store.memory_used += replaced->summary.bytes;
        const std::string old_key = replaced->summary.ticket.Encode();
        store.entries.emplace(old_key, std::move(*replaced));
        store.by_path[w.path] = old_key;
      }
      return st;
    }
  }
  if (replaced) BatchStore::Impl::RemoveFile(replaced->file);
  return summary;
}

BatchStore::BatchStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BatchStore::~BatchStore() = default;

arrow::Result<std::unique_ptr<BatchStore>> BatchStore::Open(BatchStoreOptions options) {
  if (options.memory_budget_bytes < 0) {
    return arrow::Status::Invalid("memory budget must not be negative, got ",
                                  options.memory_budget_bytes);
  }
  if (options.disk_budget_bytes < 0) {
    return arrow::Status::Invalid("disk budget must not be negative, got ",
                                  options.disk_budget_bytes);
  }
  if (options.memory_budget_bytes == 0) {
    options.memory_budget_bytes =
        static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE) / 2;
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->keys = impl->options.keys;
  if (impl->has_disk()) {
    const fs::path dir = impl->options.data_dir;
    impl->spill_dir = dir / "spill";
    impl->durable_dir = dir / "durable";
    std::error_code ec;
    // Spill files belong to the process that wrote them: gone on restart.
    fs::remove_all(impl->spill_dir, ec);
    fs::create_directories(impl->spill_dir, ec);
    if (!ec) fs::create_directories(impl->durable_dir, ec);
    if (ec) {
      return arrow::Status::IOError("cannot use data dir ", dir.string(), ": ", ec.message());
    }
    // Partial writes of a killed process.
    for (const auto& file : fs::directory_iterator(impl->durable_dir, ec)) {
      if (file.path().extension() == ".tmp") fs::remove(file.path(), ec);
    }
    ARROW_RETURN_NOT_OK(impl->Recover());
    // Durable files the manifest does not name were never committed.
    std::vector<fs::path> orphans;
    for (const auto& file : fs::directory_iterator(impl->durable_dir, ec)) {
      bool named = false;
      for (const auto& [key, e] : impl->entries) named = named || e.file == file.path().string();
      if (!named) orphans.push_back(file.path());
    }
    for (const auto& orphan : orphans) fs::remove(orphan, ec);
  }
  return std::unique_ptr<BatchStore>(new BatchStore(std::move(impl)));
}

arrow::Status BatchStore::ReplaceKeys(std::shared_ptr<const KeyRing> keys) {
  if (!keys) return arrow::Status::Invalid("ReplaceKeys: no key ring");
  std::lock_guard<std::mutex> lock(impl_->keys_mutex);
  if (impl_->keys) {
    for (const auto& key : impl_->keys->keys()) {
      if (keys->Find(key.id) == nullptr) {
        return arrow::Status::Invalid("the key file ", keys->source(), " no longer holds key '",
                                      key.id, "'; keys are rotated by adding one, never by removing");
      }
    }
  }
  impl_->keys = std::move(keys);
  return arrow::Status::OK();
}

const BatchStoreOptions& BatchStore::options() const { return impl_->options; }

arrow::Result<std::unique_ptr<DatasetWriter>> BatchStore::BeginPut(
    const std::string& tenant, const std::string& path, std::shared_ptr<arrow::Schema> schema,
    PutOptions options) {
  ARROW_RETURN_NOT_OK(ValidateTenant(tenant));
  if (options.durable && !impl_->has_disk()) {
    return arrow::Status::Invalid("cannot put ", path,
                                  " durably: the data node runs without a data dir");
  }
  auto w = std::make_unique<DatasetWriter::Impl>();
  w->store = impl_.get();
  w->tenant = tenant;
  w->path = path;
  w->schema = std::move(schema);
  w->options = options;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    ++impl_->puts_in_flight;
  }
  return std::unique_ptr<DatasetWriter>(new DatasetWriter(std::move(w)));
}

arrow::Result<StoredDataset> BatchStore::Get(const TicketId& ticket) {
  return impl_->Read(ticket);
}

arrow::Result<DatasetSummary> BatchStore::Describe(const TicketId& ticket) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  ARROW_ASSIGN_OR_RAISE(Entry * e, impl_->Lookup(ticket));
  if (!e->corrupt.empty()) return Impl::Corrupt(*e);
  return e->summary;
}

arrow::Result<std::shared_ptr<arrow::Schema>> BatchStore::GetSchema(const TicketId& ticket) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  ARROW_ASSIGN_OR_RAISE(Entry * e, impl_->Lookup(ticket));
  if (!e->corrupt.empty()) return Impl::Corrupt(*e);
  return e->schema;
}

arrow::Result<DatasetSummary> BatchStore::FindByPath(const std::string& path) {
  TicketId ticket;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    auto it = impl_->by_path.find(path);
    if (it == impl_->by_path.end()) {
      return arrow::Status::KeyError("no dataset at path '", path, "'");
    }
    ARROW_ASSIGN_OR_RAISE(ticket, DecodeTicket(it->second));
  }
  auto summary = Describe(ticket);
  if (summary.status().IsKeyError()) {
    return arrow::Status::KeyError("no dataset at path '", path, "'");
  }
  return summary;
}

std::vector<DatasetSummary> BatchStore::List(const std::string& prefix) {
  std::vector<DatasetSummary> out;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  for (auto it = impl_->by_path.lower_bound(prefix);
       it != impl_->by_path.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    auto entry = impl_->entries.find(it->second);
    if (entry == impl_->entries.end() || !entry->second.corrupt.empty() ||
        Impl::Expired(entry->second)) {
      continue;
    }
    out.push_back(entry->second.summary);
  }
  return out;
}

arrow::Status BatchStore::Drop(const TicketId& ticket) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto it = impl_->entries.find(ticket.Encode());
  if (it == impl_->entries.end()) return arrow::Status::KeyError("no dataset for this ticket");
  return impl_->RemoveLocked(ticket.Encode());
}

arrow::Result<DatasetSummary> BatchStore::Persist(const TicketId& ticket) {
  if (!impl_->has_disk()) {
    return arrow::Status::Invalid("cannot persist: the data node runs without a data dir");
  }
  ARROW_ASSIGN_OR_RAISE(StoredDataset data, impl_->Read(ticket));
  if (data.summary.durable) return data.summary;
  const std::string file = impl_->FileFor(ticket, /*durable=*/true);
  ARROW_ASSIGN_OR_RAISE(auto written, impl_->WriteDurable(file, data));
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto found = impl_->Lookup(ticket);
  if (!found.ok()) {
    // Dropped while we wrote.
    std::error_code ec;
    fs::remove(file, ec);
    return found.status();
  }
  Entry& e = **found;
  if (e.summary.durable) {
    return e.summary;  // a concurrent Persist won; it wrote the same file
  }
  const std::string spill_file = e.file;
  e.file = file;
  e.file_checksum = written.checksum;
  e.file_size = written.size;
  e.summary.durable = true;
  arrow::Status st = impl_->WriteManifestLocked();
  if (!st.ok()) {
    e.summary.durable = false;
    e.file = spill_file;
    std::error_code ec;
    fs::remove(file, ec);
    return st;
  }
  if (!spill_file.empty()) {
    std::error_code ec;
    fs::remove(spill_file, ec);
  }
  return e.summary;
}

arrow::Result<std::vector<DatasetSummary>> BatchStore::SetExpiry(const std::vector<TicketId>& tickets,
                                                                  int64_t expires_at_ms) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  std::vector<DatasetSummary> changed;
  bool durable = false;
  for (const auto& ticket : tickets) {
    auto found = impl_->Lookup(ticket);
    if (!found.ok()) continue;
    Entry& e = **found;
    e.summary.expires_at_ms = expires_at_ms;
    durable = durable || e.summary.durable;
    changed.push_back(e.summary);
  }
  if (durable) ARROW_RETURN_NOT_OK(impl_->WriteManifestLocked());
  return changed;
}

arrow::Result<int64_t> BatchStore::CollectGarbage() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  std::vector<std::string> expired;
  for (const auto& [key, e] : impl_->entries) {
    if (Impl::Expired(e)) expired.push_back(key);
  }
  for (const auto& key : expired) ARROW_RETURN_NOT_OK(impl_->RemoveLocked(key));
  return static_cast<int64_t>(expired.size());
}

BatchStore::DurableSnapshot BatchStore::SnapshotDurable() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return {impl_->ManifestJsonLocked(), impl_->durable_dir.string(), impl_->Keys() != nullptr};
}

StoreStats BatchStore::Stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  StoreStats s;
  s.memory_budget_bytes = impl_->options.memory_budget_bytes;
  s.disk_budget_bytes = impl_->options.disk_budget_bytes;
  s.memory_used_bytes = impl_->memory_used;
  s.memory_reserved_by_puts_bytes = impl_->reserved;
  s.puts_in_flight = impl_->puts_in_flight;
  s.spills = impl_->spills;
  s.spilled_bytes = impl_->spilled_bytes;
  s.reloads = impl_->reloads;
  s.reloaded_bytes = impl_->reloaded_bytes;
  for (const auto& [key, e] : impl_->entries) {
    ++s.datasets;
    if (e.in_memory) ++s.datasets_in_memory;
    else ++s.datasets_on_disk;
    if (e.summary.durable) ++s.datasets_durable;
    if (!e.corrupt.empty()) ++s.datasets_corrupt;
    if (!e.file.empty()) s.disk_used_bytes += e.file_size;
    TenantUsage& tenant = s.tenants[e.summary.path.substr(0, e.summary.path.find('/'))];
    ++tenant.datasets;
    tenant.bytes += e.summary.bytes;
    if (e.in_memory) tenant.memory_bytes += e.summary.bytes;
    if (!e.file.empty()) tenant.disk_bytes += e.file_size;
  }
  return s;
}

}  // namespace flightdeck::flight
